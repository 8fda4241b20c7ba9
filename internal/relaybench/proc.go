package relaybench

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
)

// clockTicks is USER_HZ, the unit of the CPU times in /proc/PID/stat. Linux fixes it at 100
// for user space on every architecture, whatever the kernel's internal tick rate.
const clockTicks = 100

// processCPU returns the user plus system CPU time that process pid and all its threads have
// used, from /proc/PID/stat. Its resolution is 10 ms.
func processCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read CPU time of process %d: %w", pid, err)
	}
	// The command name in brackets may contain spaces, so fields are counted after its ')'.
	end := bytes.LastIndexByte(data, ')')
	if end < 0 {
		return 0, fmt.Errorf("read CPU time of process %d: unexpected /proc stat format", pid)
	}
	fields := bytes.Fields(data[end+1:])
	// After the name come state (field 3) ... utime (14) and stime (15).
	const utimeIndex = 14 - 3
	if len(fields) <= utimeIndex+1 {
		return 0, fmt.Errorf("read CPU time of process %d: unexpected /proc stat format", pid)
	}
	var ticks int64
	for _, f := range fields[utimeIndex : utimeIndex+2] {
		n, err := strconv.ParseInt(string(f), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("read CPU time of process %d: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// processRSS returns the resident set size of process pid in bytes, from /proc/PID/status.
func processRSS(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read memory of process %d: %w", pid, err)
	}
	for line := range bytes.SplitSeq(data, []byte("\n")) {
		rest, ok := bytes.CutPrefix(line, []byte("VmRSS:"))
		if !ok {
			continue
		}
		fields := bytes.Fields(rest)
		if len(fields) != 2 || string(fields[1]) != "kB" {
			break
		}
		kb, err := strconv.ParseInt(string(fields[0]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("read memory of process %d: %w", pid, err)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("read memory of process %d: no VmRSS line in /proc status", pid)
}
