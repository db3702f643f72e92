package budget

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/galxe-lambda/galxe-lambda/shared/galxe"
)

// noSlot is Admit's refusal when no slot fits the caller's deadline: the
// galxe client's own RATE_LIMITED (it answers 429), with the time until the
// next slot as RetryAfter, at least a second.
func (b *Budget) noSlot(next time.Time) *galxe.Error {
	wait := time.Second
	if !next.IsZero() {
		wait = max(next.Sub(b.o.Now()), wait)
	}
	share := fmt.Sprintf("the account's budget of %g requests a second", b.o.AccountQPS)
	if b.o.Class == Background {
		share = fmt.Sprintf("the background share (%g of the account's %g requests a second)", b.o.AccountQPS-b.o.ForegroundQPS, b.o.AccountQPS)
	}
	return &galxe.Error{Code: galxe.CodeRateLimited, Category: galxe.CategoryRateLimit, RetryAfter: wait,
		Message: share + " leaves no slot within the time budget"}
}

// monthlyDetails are the details Galxe gives a spent monthly quota: the
// galxe classifier reads them as a spent quota, and so does every caller
// that looks (the pusher then holds its messages at least an hour).
var monthlyDetails = json.RawMessage(`{"quota_type":"monthly"}`)

// quotaHold is the RetryAfter of a spent quota: galxe's own for a spent
// quota without a Retry-After.
const quotaHold = time.Hour

// quotaSpent is Admit's refusal for a background caller at the month's
// limit less the reserve: what Galxe answers for a spent monthly quota.
func (b *Budget) quotaSpent(month string, used int64) *galxe.Error {
	return &galxe.Error{Code: "QUOTA_EXCEEDED", Category: galxe.CategoryRateLimit, QuotaSpent: true, RetryAfter: quotaHold,
		Details: monthlyDetails,
		Message: fmt.Sprintf("monthly quota for background calls reached: %d of %d requests used in %s (%d kept for foreground calls)",
			used, b.o.MonthlyQuota, month, b.o.QuotaReserve)}
}
