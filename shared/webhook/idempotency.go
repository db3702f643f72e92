package webhook

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/galxe-lambda/galxe-lambda/shared/apigw"
	"github.com/galxe-lambda/galxe-lambda/shared/config"
	"github.com/galxe-lambda/galxe-lambda/shared/galxe"
	"github.com/galxe-lambda/galxe-lambda/shared/state"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// Deliveries answered once (DESIGN.md §11): with the shared-state table, a
// delivery of the items route is claimed in the table before it runs, and
// its final answer stored there, so that any instance answers a duplicate
// with the stored answer instead of running it again.

// HeaderIdempotencyKey is the caller's key with WEBHOOK_AUTH=none (with
// signatures, the key is the webhook-id).
const HeaderIdempotencyKey = "Idempotency-Key"

// HeaderReplayed marks an answer given from the table.
const HeaderReplayed = "Idempotent-Replayed"

const (
	// stateReserve is kept back from the invocation's deadline when the
	// table is asked before the route runs, for answering 503 if it does
	// not answer.
	stateReserve = 500 * time.Millisecond
	// settleTimeout bounds storing or releasing an answer, which has a
	// context of its own: the request's budget may be spent by then.
	settleTimeout = 2 * time.Second
	// settleReserve is kept after settling to write the answer.
	settleReserve = 200 * time.Millisecond
)

// What the table made of a delivery, for the request's log line.
const (
	idemStored      = "stored"      // ran; its answer is kept
	idemReleased    = "released"    // ran; a retry could change the answer, so the claim was given up
	idemUnsettled   = "unsettled"   // ran; storing or releasing failed (the claim lapses at its deadline)
	idemReplayed    = "replayed"    // answered from the table
	idemInProgress  = "in_progress" // another attempt is running it
	idemKeyReused   = "key_reused"  // the key came with another request
	idemUnavailable = "unavailable" // the table could not be asked
	idemNoKey       = "no_key"      // WEBHOOK_AUTH=none without Idempotency-Key: not idempotent
)

// answerOnce runs a delivery of the items route at most once across the
// fleet: the one place a delivery is claimed and settled.
func (h *Handler) answerOnce(ctx context.Context, req *apigw.Request, r route, run func() outcome) outcome {
	fail := func(err error, idem string) outcome {
		p := problemFor(err, req.RequestID)
		return outcome{resp: p.response(), route: r, failure: &p, idempotency: idem}
	}
	if h.stateErr != nil {
		return fail(h.stateErr, idemUnavailable)
	}
	key, err := h.deliveryKey(req)
	if err != nil {
		return fail(err, "")
	}
	if key == "" {
		o := run()
		o.idempotency = idemNoKey
		return o
	}
	// The path as the route reads it: a trailing slash is the same request.
	fp := state.Fingerprint(req.Method, "/credentials/"+r.param+"/items", req.Body)
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(galxe.DefaultBudget)
	}
	cctx, cancel := context.WithDeadline(ctx, deadline.Add(-stateReserve))
	claim, err := h.state.Claim(cctx, key, fp, deadline)
	cancel()
	if err != nil {
		return fail(err, idemUnavailable)
	}
	switch claim.Outcome {
	case state.Completed:
		h.count("IdempotentReplays", 1)
		o := outcome{resp: apigw.Response{Status: claim.Answer.Status, Body: claim.Answer.Body}, route: r, idempotency: idemReplayed}
		if claim.Answer.Body == nil {
			o = fail(&answerNotKept{Status: claim.Answer.Status, Code: claim.Answer.Code}, idemReplayed)
		}
		o.resp.Header = map[string]string{HeaderReplayed: "true"}
		return o
	case state.InProgress:
		return fail(&RequestError{Status: http.StatusConflict, Code: CodeRequestInProgress, RetryAfter: defaultRetryAfter,
			Message: "this delivery is being answered now; send it again later"}, idemInProgress)
	case state.KeyReused:
		return fail(&RequestError{Status: http.StatusUnprocessableEntity, Code: CodeKeyReused,
			Message: "this delivery's key came earlier with another request; a new request needs a new key"}, idemKeyReused)
	}

	o := run()
	// Settled with a context of its own, within the invocation's deadline
	// (past it the claim lapses anyway, and the process is frozen).
	// Some time is kept to answer: a slow table must not carry the handler
	// past the deadline (Lambda would time out, API Gateway answer 5xx).
	sctx, cancel := state.AfterWork(ctx, settleTimeout, settleReserve)
	defer cancel()
	if final(o.resp) { // kept for good: not an answer a retry could change
		a := state.Answer{Status: o.resp.Status, Body: o.resp.Body}
		if o.failure != nil {
			a.Code = o.failure.fields.Code
		}
		o.idempotency = idemStored
		err = h.state.Complete(sctx, key, fp, a, h.idemTTL)
	} else {
		o.idempotency = idemReleased
		err = h.state.Release(sctx, key, fp)
	}
	if err != nil {
		// The answer stands; the claim lapses at its deadline, and a retry
		// after it runs the delivery again.
		h.log.WarnContext(ctx, "delivery not settled in the shared-state table", "error", state.Detail(err))
		o.idempotency = idemUnsettled
	}
	return o
}

// deliveryKey is the delivery's key: the webhook-id (the signature, checked
// already, covers it), or with WEBHOOK_AUTH=none the caller's
// Idempotency-Key, which may be absent (no key: not idempotent).
func (h *Handler) deliveryKey(req *apigw.Request) (string, error) {
	if h.auth != config.AuthNone {
		return req.Header.Get(standardwebhooks.HeaderWebhookID), nil
	}
	key := req.Header.Get(HeaderIdempotencyKey)
	if len(key) > MaxWebhookIDBytes {
		return "", badRequest(fmt.Sprintf("the %s header is %d bytes; at most %d", HeaderIdempotencyKey, len(key), MaxWebhookIDBytes), nil)
	}
	return key, nil
}

// answerNotKept is a completed delivery whose answer was too large for the
// table: only its status and code were kept.
type answerNotKept struct {
	Status int
	Code   string
}

func (e *answerNotKept) Error() string {
	return fmt.Sprintf("stored answer %d %s not kept whole", e.Status, e.Code)
}

// category is the kept code's category: the function's own codes are the
// caller's (REQUEST); Galxe's, kept only with a 4xx, are the categories
// those statuses come from.
func (e *answerNotKept) category() string {
	switch e.Code {
	case CodeInvalidRequest, CodePayloadTooLarge, CodeUnknownOperation:
		return CategoryRequest
	}
	for c, s := range statusFor {
		if s == e.Status && s < 500 {
			return string(c)
		}
	}
	return CategoryRequest
}
