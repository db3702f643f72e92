package main

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// fakeInstance is an Emulated whose process is a sleeper and whose
// invocations go to url.
func fakeInstance(t *testing.T, url string) *Emulated {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	e := &Emulated{Name: "fake", URL: url, cmd: cmd, out: &lockedBuffer{}, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(e.done) }()
	t.Cleanup(e.Stop)
	return e
}

// An instance that refuses the connection never saw the event: it is
// stopped and the event goes to a new instance, once.
func TestRefusedInstanceReplaced(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusing := "http://" + l.Addr().String() + "/"
	l.Close()
	served := 0
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served++
		w.Write([]byte(`{"ok":true}`))
	}))
	defer ok.Close()

	var first *Emulated
	f := newFunction("webhook", 4, func(ctx context.Context, n int) (*Emulated, error) {
		if n == 1 {
			first = fakeInstance(t, refusing)
			return first, nil
		}
		return fakeInstance(t, ok.URL), nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	inv, err := f.Invoke(ctx, []byte(`{}`))
	if err != nil || inv.Status != 200 || served != 1 {
		t.Fatalf("invocation %+v, error %v, served %d", inv, err, served)
	}
	select {
	case <-first.done:
	default:
		t.Fatal("the refusing instance was not stopped")
	}
	if f.Instances() != 1 {
		t.Fatalf("%d instances running, want the replacement alone", f.Instances())
	}
}
