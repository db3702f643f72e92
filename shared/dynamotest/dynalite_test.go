package dynamotest

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// dynaliteDir holds the pinned dynalite (package.json, package-lock.json);
// its node_modules is installed by `npm ci` when missing.
var dynaliteDir = filepath.Join("testdata", "dynalite")

// TestAgainstDynalite runs the differential test against dynalite, an
// independent DynamoDB implementation on Node.js, where node is on the PATH.
func TestAgainstDynalite(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not on the PATH: the comparison with dynalite (npm) needs Node.js")
	}
	if _, err := os.Stat(filepath.Join(dynaliteDir, "node_modules", "dynalite", "cli.js")); err != nil {
		npm, err := exec.LookPath("npm")
		if err != nil {
			t.Fatal("node is on the PATH but npm is not: cannot install dynalite")
		}
		cmd := exec.Command(npm, "ci", "--no-audit", "--no-fund")
		cmd.Dir = dynaliteDir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci in %s: %v\n%s", dynaliteDir, err, out)
		}
	}
	compareWith(t, startDynalite(t, node))
}

// startDynalite starts dynalite in memory on a free loopback port and
// returns its URL once it listens; it is stopped when the test ends.
func startDynalite(t *testing.T, node string) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	cmd := exec.Command(node, filepath.Join("node_modules", "dynalite", "cli.js"), "--host", "127.0.0.1", "--port", port,
		"--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0")
	cmd.Dir = dynaliteDir
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting dynalite: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	listening := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "listening") {
				listening <- true
				break
			}
		}
		listening <- false
		for sc.Scan() { // keep draining
		}
	}()
	select {
	case ok := <-listening:
		if !ok {
			t.Fatal("dynalite exited before it listened")
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("dynalite did not listen within two minutes")
	}
	return "http://127.0.0.1:" + port
}
