package main

// The syscall package lists no SYS_RENAMEAT2 for amd64; the number is the
// kernel's (arch/x86/entry/syscalls/syscall_64.tbl).
const sysRenameat2 = 316
