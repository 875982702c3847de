package harness

// Processes the rigs start (systemd-nspawn and the guest's init), read from /proc.

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// procStat is the fields of /proc/PID/stat after the command name, or nil.
func procStat(pid int) []string {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(s[i+1:])
}

// Alive reports whether the process exists and is not a zombie waiting to be reaped.
func Alive(pid int) bool {
	f := procStat(pid)
	return f != nil && (len(f) == 0 || f[0] != "Z")
}

// ChildrenOf lists the processes whose parent is pid.
func ChildrenOf(pid int) []int {
	var kids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if f := procStat(p); len(f) > 1 && f[1] == strconv.Itoa(pid) {
			kids = append(kids, p)
		}
	}
	return kids
}
