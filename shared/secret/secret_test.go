package secret_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/galxe-lambda/galxe-lambda/shared/secret"
	"github.com/galxe-lambda/galxe-lambda/shared/ssmtest"
)

const tokenValue = "tok_7f3a9c1e5b2d8f4a6c0e9b1d3f5a7c9e"

func TestValueNeverFormats(t *testing.T) {
	v := secret.New(tokenValue)
	type holder struct {
		Token secret.Value
		Ptr   *secret.Value
	}
	h := holder{Token: v, Ptr: &v}
	var out bytes.Buffer
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
		fmt.Fprintf(&out, verb+"\n", v)
		fmt.Fprintf(&out, verb+"\n", h)
	}
	fmt.Fprintln(&out, v, h, []secret.Value{v}, map[string]secret.Value{"k": v})
	js, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	out.Write(js)
	slog.New(slog.NewJSONHandler(&out, nil)).Info("x", "token", v, "holder", h)
	slog.New(slog.NewTextHandler(&out, nil)).Info("x", "token", v)
	out.WriteString(fmt.Errorf("wrapped: %v", v).Error())

	if strings.Contains(out.String(), tokenValue) {
		t.Fatalf("secret leaked into output:\n%s", out.String())
	}
	if !strings.Contains(out.String(), secret.Redacted) {
		t.Fatalf("expected %s in output:\n%s", secret.Redacted, out.String())
	}
	if v.Reveal() != tokenValue {
		t.Fatal("Reveal must return the value")
	}
}

func newSSM(t *testing.T) (*ssmtest.Server, secret.GetParameterAPI) {
	t.Helper()
	srv := ssmtest.NewServer()
	t.Cleanup(srv.Close)
	srv.Env(t)
	client, err := secret.NewSSMClient(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return srv, client
}

func TestSSMReadsSecureStringWithDecryption(t *testing.T) {
	srv, client := newSSM(t)
	srv.PutSecure("/galxe/token", tokenValue)
	src := secret.FromSSM("Galxe access token", client, "/galxe/token")
	for range 3 {
		v, err := src.Get(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if v.Reveal() != tokenValue {
			t.Fatalf("got a different value (decryption not requested?)")
		}
	}
	if n := srv.Reads("/galxe/token"); n != 1 {
		t.Fatalf("SSM reads = %d, want 1 (value kept in memory)", n)
	}
}

func TestSSMThrottlingAtColdStartIsSurvived(t *testing.T) {
	srv, client := newSSM(t)
	srv.PutSecure("p", tokenValue)
	// More throttles than the SDK's own three attempts: the first Get fails,
	// transiently, and the next one (the next invocation) succeeds.
	srv.Fail("p", ssmtest.Fault{Code: "ThrottlingException"}, ssmtest.Fault{Code: "ThrottlingException"},
		ssmtest.Fault{Code: "ThrottlingException"})
	src := secret.FromSSM("Galxe access token", client, "p")

	_, err := src.Get(context.Background())
	var se *secret.Error
	if !errors.As(err, &se) {
		t.Fatalf("want *secret.Error, got %v", err)
	}
	if se.Permanent {
		t.Fatalf("throttling must be transient: %v", err)
	}
	if !strings.Contains(err.Error(), `"p"`) {
		t.Errorf("error should name the parameter: %v", err)
	}
	v, err := src.Get(context.Background())
	if err != nil {
		t.Fatalf("second Get: %v", err)
	}
	if v.Reveal() != tokenValue {
		t.Fatal("wrong value")
	}
}

func TestSSMPermanentFailures(t *testing.T) {
	for _, code := range []string{"", "AccessDeniedException", "InvalidKeyId", "KMSAccessDeniedException"} {
		t.Run("code="+code, func(t *testing.T) {
			srv, client := newSSM(t)
			if code != "" {
				srv.PutSecure("p", tokenValue)
				srv.Fail("p", ssmtest.Fault{Code: code})
			} // code "": parameter does not exist
			src := secret.FromSSM("Galxe access token", client, "p")
			_, err := src.Get(context.Background())
			var se *secret.Error
			if !errors.As(err, &se) || !se.Permanent {
				t.Fatalf("want a permanent *secret.Error, got %#v", err)
			}
			if strings.Contains(err.Error(), tokenValue) {
				t.Fatal("value in error")
			}
			// A permanent failure is remembered for a while: no read per call.
			before := srv.Reads("p")
			if _, err := src.Get(context.Background()); err == nil {
				t.Fatal("want the remembered error")
			}
			if srv.Reads("p") != before {
				t.Fatal("a permanent failure should not be re-read at once")
			}
		})
	}
}

func TestSSMTimeoutIsTransientAndBounded(t *testing.T) {
	srv, client := newSSM(t)
	srv.PutSecure("p", tokenValue)
	srv.Fail("p", ssmtest.Fault{Delay: 10 * time.Second})
	src := secret.FromSSM("Galxe access token", client, "p")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := src.Get(ctx)
	var se *secret.Error
	if !errors.As(err, &se) || se.Permanent {
		t.Fatalf("want a transient *secret.Error, got %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Get waited %v past its caller's deadline", d)
	}
}

func TestRotatedValueReadOnceUnderConcurrency(t *testing.T) {
	srv, client := newSSM(t)
	srv.PutSecure("p", "old-value")
	src := secret.FromSSM("Galxe access token", client, "p")
	stale, err := src.Get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	srv.PutSecure("p", "new-value")

	const callers = 64
	var wg sync.WaitGroup
	got := make([]string, callers)
	errs := make([]error, callers)
	start := make(chan struct{})
	for i := range callers {
		wg.Go(func() {
			<-start
			v, err := src.Refresh(context.Background(), stale)
			got[i], errs[i] = v.Reveal(), err
		})
	}
	close(start)
	wg.Wait()
	for i := range callers {
		if errs[i] != nil || got[i] != "new-value" {
			t.Fatalf("caller %d: %q, %v", i, got[i], errs[i])
		}
	}
	if n := srv.Reads("p"); n != 2 {
		t.Fatalf("SSM reads = %d, want 2 (cold start + exactly one refresh)", n)
	}
	// Refreshing with the current value re-reads (the token may be bad).
	cur, _ := src.Get(context.Background())
	if _, err := src.Refresh(context.Background(), cur); err != nil {
		t.Fatal(err)
	}
	if n := srv.Reads("p"); n != 3 {
		t.Fatalf("SSM reads = %d, want 3", n)
	}
}

func TestStaticAndUnconfigured(t *testing.T) {
	v, err := secret.Static("t", "local").Get(context.Background())
	if err != nil || v.Reveal() != "local" {
		t.Fatalf("static: %v", err)
	}
	_, err = secret.Unconfigured("Galxe access token").Get(context.Background())
	var se *secret.Error
	if !errors.As(err, &se) || !se.Permanent || !errors.Is(err, secret.ErrNotConfigured) {
		t.Fatalf("unconfigured: %v", err)
	}
}
