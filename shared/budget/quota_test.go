package budget

import (
	"strings"
	"testing"
	"time"

	"github.com/galxe-lambda/galxe-lambda/shared/dynamotest"
	"github.com/galxe-lambda/galxe-lambda/shared/galxe"
)

func answered(status int, category galxe.Category) galxe.Attempt {
	return galxe.Attempt{Operation: "credential", Number: 1, Err: &galxe.Error{Code: "X", Category: category, HTTPStatus: status}}
}

var ok = galxe.Attempt{Operation: "credential", Number: 1}

// Requests are counted in the UTC month they were made, whatever month
// Flush runs in; refusals for rate or quota and requests without an answer
// are not counted.
func TestQuotaCountedPerUTCMonth(t *testing.T) {
	f := newFleet(t, time.Date(2026, 12, 31, 23, 59, 59, 500e6, time.UTC))
	m, sink := newMetrics()
	b := f.instance(Foreground, Options{Metrics: m})
	for _, a := range []galxe.Attempt{
		ok,
		answered(500, galxe.CategoryInternal),  // Galxe's gateway answered: counted
		answered(200, galxe.CategoryNotFound),  // an error Galxe gave: counted
		answered(429, galxe.CategoryRateLimit), // refused for its rate
		answered(200, galxe.CategoryRateLimit), // QUOTA_EXCEEDED under HTTP 200
		answered(0, galxe.CategoryUpstream),    // no answer
		{Err: &galxe.Error{Code: galxe.CodeUpstreamTimeout, Category: galxe.CategoryUpstream}},
	} {
		b.Observe(ctx(t), a)
	}
	f.clk.advance(time.Second) // January, in UTC
	b.Observe(ctx(t), ok)
	b.Observe(ctx(t), ok)
	for _, month := range []string{"2026-12", "2027-01"} {
		if used, err := f.table().Used(ctx(t), month); err != nil || used != 0 {
			t.Fatalf("%s: %d counted before Flush (%v)", month, used, err)
		}
	}
	if err := b.Flush(ctx(t)); err != nil {
		t.Fatal(err)
	}
	tb := f.table()
	dec, err1 := tb.Used(ctx(t), "2026-12")
	jan, err2 := tb.Used(ctx(t), "2027-01")
	if dec != 3 || jan != 2 || err1 != nil || err2 != nil {
		t.Fatalf("December %d, January %d (%v %v), want 3 and 2", dec, jan, err1, err2)
	}
	if !sink.has("GalxeQuotaUsed") {
		t.Fatalf("no GalxeQuotaUsed in %s", sink.buf.String())
	}
	q, err := b.Quota(ctx(t))
	if err != nil || q != (Quota{Month: "2027-01", Used: 2, Limit: DefaultMonthlyQuota}) {
		t.Fatalf("quota %+v %v", q, err)
	}
}

// Counts are kept in memory until Flush adds them (one write per month);
// a Flush that fails keeps them for the next.
func TestFlushAddsBatchedCounts(t *testing.T) {
	f := newFleet(t, t0)
	a, b := f.instance(Foreground, Options{}), f.instance(Background, Options{})
	for range 5 {
		a.Observe(ctx(t), ok)
	}
	for range 7 {
		b.Observe(ctx(t), ok)
	}
	if q, err := a.Quota(ctx(t)); err != nil || q.Used != 5 {
		t.Fatalf("before Flush, an instance knows its own: %+v %v", q, err)
	}
	f.srv.Fail("UpdateItem", dynamotest.Throttled)
	if err := a.Flush(ctx(t)); err == nil {
		t.Fatal("a throttled Flush said nothing")
	}
	f.clk.advance(tableRetry)
	if err := a.Flush(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if err := b.Flush(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if n := f.srv.Calls("UpdateItem"); n != 3 {
		t.Fatalf("%d writes, want one per Flush", n)
	}
	for _, inst := range []*Budget{a, b} {
		if q, err := inst.Quota(ctx(t)); err != nil || q.Used != 12 {
			t.Fatalf("after Flush: %+v %v", q, err)
		}
	}
}

// Background callers stop at the limit less the reserve with Galxe's own
// spent-monthly-quota error; foreground callers go on into the reserve.
func TestBackgroundStopsAtLimitLessReserve(t *testing.T) {
	f := newFleet(t, t0)
	o := Options{MonthlyQuota: 100} // reserve: 1
	if _, err := f.table().AddUsed(ctx(t), "2026-12", 98); err != nil {
		t.Fatal(err)
	}
	bg, fg := f.instance(Background, o), f.instance(Foreground, o)
	if err := bg.Admit(ctx(t), t0.Add(time.Second)); err != nil {
		t.Fatalf("at 98 of 99: %v", err)
	}
	bg.Observe(ctx(t), ok)
	reads := f.srv.Calls("GetItem")
	ge := asError(t, bg.Admit(ctx(t), t0.Add(time.Second)))
	if ge.Code != "QUOTA_EXCEEDED" || ge.Category != galxe.CategoryRateLimit || !ge.QuotaSpent || ge.Retryable() ||
		ge.RetryAfter != time.Hour || !strings.Contains(string(ge.Details), `"quota_type":"monthly"`) {
		t.Fatalf("at 99 of 99: %v (details %s, retry after %v)", ge, ge.Details, ge.RetryAfter)
	}
	if f.srv.Calls("GetItem") != reads {
		t.Fatal("the count was read again within a minute")
	}
	if err := bg.Flush(ctx(t)); err != nil {
		t.Fatal(err)
	}
	// Another background instance learns it from the table.
	if ge := asError(t, f.instance(Background, o).Admit(ctx(t), t0.Add(time.Second))); !ge.QuotaSpent {
		t.Fatalf("another instance: %v", ge)
	}
	f.clk.advance(time.Second)
	if err := fg.Admit(ctx(t), f.clk.Now().Add(time.Second)); err != nil {
		t.Fatalf("foreground in the reserve: %v", err)
	}
}

// Without the table, every request is admitted and the process counts its own.
func TestWithoutTable(t *testing.T) {
	b := New(Options{Class: Background, MonthlyQuota: 1})
	for range 3 {
		if err := b.Admit(ctx(t), time.Now().Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		b.Observe(ctx(t), ok)
	}
	if err := b.Flush(ctx(t)); err != nil {
		t.Fatal(err)
	}
	b.Observe(ctx(t), ok)
	if q, err := b.Quota(ctx(t)); err != nil || q.Used != 4 || q.Limit != 1 {
		t.Fatalf("%+v %v", q, err)
	}
}

// FlushDue writes once FlushBatch requests are counted, or the oldest has
// waited flushAge: a webhook answering one request an invocation spares
// the table most writes, and the month's count is never more than
// FlushBatch−1 requests behind for long.
func TestFlushDue(t *testing.T) {
	f := newFleet(t, t0)
	b := f.instance(Foreground, Options{})
	month := t0.UTC().Format("2006-01")
	used := func() int64 {
		n, err := f.table().Used(ctx(t), month)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	for i := 1; i <= FlushBatch; i++ {
		b.Observe(ctx(t), ok)
		if err := b.FlushDue(ctx(t)); err != nil {
			t.Fatal(err)
		}
		want := int64(0)
		if i == FlushBatch {
			want = FlushBatch
		}
		if got := used(); got != want {
			t.Fatalf("after %d requests: %d counted in the table, want %d", i, got, want)
		}
	}
	b.Observe(ctx(t), ok)
	f.clk.advance(flushAge)
	if err := b.FlushDue(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if got := used(); got != FlushBatch+1 {
		t.Fatalf("a request %v old not flushed: %d counted", flushAge, got)
	}
}
