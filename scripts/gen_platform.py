#!/usr/bin/env python3
# A generated platform directory (JSON) for scripts/enterprise.sh and scripts/fleet.sh:
#
#   gen_platform.py TENANTS USERS OUT.json          # TENANTS tenants of USERS users each
#   gen_platform.py OUT.json 1x100000 100x1000      # one of 100,000 and a hundred of 1,000
#
# Every user has an extension and a DID; each tenant has 20 queues of 50 agents and a mix
# of built-in roles. Tenant ids are t0000, t0001, … in the order given; numbers never repeat.
import json,sys
ROLES=["non_admin","call_center_agent","basic_user","tenant_user","call_center_agent","non_admin","site_manager","call_center_supervisor"]
def tenant(i,n,first):
    def did(j):
        if j is None: return "+1999%07d"%i
        k=first+j
        return "+1%03d%07d"%(200+k//10000000, k%10000000)
    t={"id":"t%04d"%i,"default_caller_id":did(None),"emergency_numbers":["911"],"sites":[{"id":"hq"},{"id":"branch"}],
       "numbers":[{"number":did(None),"site":"hq"}],"extensions":[],"queues":[],"users":[]}
    for j in range(n):
        site="branch" if j%3==0 else "hq"; ext=str(100000+j)
        t["numbers"].append({"number":did(j),"site":site,"extension":ext,"emergency_callback":j==0})
        t["extensions"].append({"ext":ext,"site":site,"user":"u%d"%j})
        u={"id":"u%d"%j,"role":ROLES[j%8],"site":site,"extensions":[ext]}
        if j%4==0: u["grants"]={"numbers":[did((j+1)%n),did((j+2)%n)],"queues":["q%d"%(j%20)]}
        t["users"].append(u)
    for q in range(20):
        t["queues"].append({"id":"q%d"%q,"number":str(600+q),"site":"hq","agents":["u%d"%((q*50+k)%n) for k in range(50)],
          "supervisors":["u%d"%((q*50+500+k*7)%n) for k in range(2)]})
    return t
if sys.argv[1].isdigit():
    sizes=[int(sys.argv[2])]*int(sys.argv[1]); out=sys.argv[3]
else:
    out=sys.argv[1]; sizes=[]
    for spec in sys.argv[2:]:
        count,users=spec.split("x"); sizes+= [int(users)]*int(count)
tenants=[]; first=0
for i,n in enumerate(sizes):
    tenants.append(tenant(i,n,first)); first+=n
json.dump({"tenants":tenants},open(out,"w"))
