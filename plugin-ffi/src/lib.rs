//! libcallgate: the C ABI (filled by the plugin issue).
