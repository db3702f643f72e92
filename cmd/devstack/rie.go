package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Emulated is one function running under the Lambda Runtime Interface
// Emulator on loopback: the emulator spawns the bootstrap at the first
// invocation (the cold start) and relays every invocation to it.
type Emulated struct {
	Name string
	URL  string // POST events here

	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
}

// lockedBuffer collects the emulator's and the function's output.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) from(off int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if off > b.buf.Len() {
		return ""
	}
	return b.buf.String()[off:]
}

func (b *lockedBuffer) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len()
}

// freeAddr finds a free loopback port.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// startEmulated runs rie with bootstrap and env (the whole environment the
// function sees) on free loopback ports, and waits until it listens. What
// it writes is kept, and copied to live as it comes when live is not nil.
func startEmulated(ctx context.Context, name, rie, bootstrap string, env []string, live io.Writer) (*Emulated, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	runtimeAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(rie, "--log-level", "error", "--runtime-interface-emulator-address", addr,
		"--runtime-api-address", runtimeAddr, bootstrap)
	cmd.Env = env
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if live != nil {
		both := io.MultiWriter(out, live)
		cmd.Stdout, cmd.Stderr = both, both
	}
	// Its own process group: stopping it stops the bootstrap it spawned.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", rie, err)
	}
	e := &Emulated{Name: name, URL: "http://" + addr + "/2015-03-31/functions/function/invocations", cmd: cmd, out: out,
		done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(e.done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return e, nil
		}
		select {
		case <-e.done:
			return nil, fmt.Errorf("the emulator for %s exited: %s", name, out.from(0))
		case <-ctx.Done():
			e.Stop()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			e.Stop()
			return nil, fmt.Errorf("the emulator for %s did not listen on %s", name, addr)
		}
	}
}

// Stop ends the emulator and the function: SIGTERM to the group, SIGKILL
// if it lingers.
func (e *Emulated) Stop() {
	if e == nil || e.cmd.Process == nil {
		return
	}
	pgid := e.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-e.done:
	case <-time.After(2 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-e.done
	}
	// The bootstrap may outlive the emulator in its group.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

// Invocation is one answered invocation.
type Invocation struct {
	Status   int    // the emulator's HTTP status (200 unless the invocation failed)
	Body     []byte // the function's result, or its error
	FuncErr  bool   // the function returned an error
	Logs     string // what the function and the emulator wrote meanwhile
	Duration time.Duration
}

// Invoke sends an event and waits for the answer and the invocation's
// REPORT line, so the logs returned belong to this invocation.
func (e *Emulated) Invoke(ctx context.Context, event []byte) (*Invocation, error) {
	off := e.out.len()
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.URL, bytes.NewReader(event))
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("invoking %s: %w", e.Name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	inv := &Invocation{Status: resp.StatusCode, Body: body, Duration: time.Since(start),
		FuncErr: resp.Header.Get("X-Amz-Function-Error") != "" || bytes.Contains(body, []byte(`"errorMessage"`))}
	for wait := time.Now().Add(time.Second); time.Now().Before(wait); time.Sleep(5 * time.Millisecond) {
		if strings.Contains(e.out.from(off), "REPORT RequestId") {
			break
		}
	}
	inv.Logs = e.out.from(off)
	return inv, nil
}

// Output is everything the emulator and the function wrote so far.
func (e *Emulated) Output() string { return e.out.from(0) }

// logLines keeps the function's own lines (JSON logs and metrics) and the
// emulator's START/END/REPORT lines, dropping blank ones.
func logLines(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			out = append(out, line)
		}
	}
	return out
}
