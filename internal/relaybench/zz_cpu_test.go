package relaybench

import (
	"os"
	"runtime/pprof"
	"testing"
)

func TestZZCPUProfile(t *testing.T) {
	target := startRelay(t, nil)
	f, _ := os.Create("/tmp/cpu.prof")
	pprof.StartCPUProfile(f)
	res, err := Pairs(testContext(t), target, PairsOptions{Pairs: 1, Size: 4096, Messages: 20000, Window: 64})
	pprof.StopCPUProfile()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%.0f msgs/s", res.PerSecond)
}
