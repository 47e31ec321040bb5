#!/usr/bin/env python3
# A generated platform directory for scripts/enterprise.sh: gen_platform.py TENANTS USERS OUT.json
import json,sys
ROLES=["non_admin","call_center_agent","basic_user","tenant_user","call_center_agent","non_admin","site_manager","call_center_supervisor"]
N=[0]
def did(i,j):
    if j==9999999: return "+1999%07d"%i
    k=i*N[0]+j
    return "+1%03d%07d"%(200+k//10000000, k%10000000)
def tenant(i,n):
    t={"id":"t%04d"%i,"default_caller_id":did(i,9999999),"emergency_numbers":["911"],"sites":[{"id":"hq"},{"id":"branch"}],
       "numbers":[{"number":did(i,9999999),"site":"hq"}],"extensions":[],"queues":[],"users":[]}
    for j in range(n):
        site="branch" if j%3==0 else "hq"; ext=str(100000+j)
        t["numbers"].append({"number":did(i,j),"site":site,"extension":ext,"emergency_callback":j==0})
        t["extensions"].append({"ext":ext,"site":site,"user":"u%d"%j})
        u={"id":"u%d"%j,"role":ROLES[j%8],"site":site,"extensions":[ext]}
        if j%4==0: u["grants"]={"numbers":[did(i,(j+1)%n),did(i,(j+2)%n)],"queues":["q%d"%(j%20)]}
        t["users"].append(u)
    for q in range(20):
        t["queues"].append({"id":"q%d"%q,"number":str(600+q),"site":"hq","agents":["u%d"%((q*50+k)%n) for k in range(50)],
          "supervisors":["u%d"%((q*50+500+k*7)%n) for k in range(2)]})
    return t
tenants=int(sys.argv[1]); n=int(sys.argv[2]); N[0]=n
json.dump({"tenants":[tenant(i,n) for i in range(tenants)]},open(sys.argv[3],"w"))
