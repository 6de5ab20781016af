package rules

import (
	"strconv"
	"testing"

	"github.com/rmad/rmad/rma"
)

// BenchmarkEvaluate decides a 1000-line submission of a few products, valid and not.
func BenchmarkEvaluate(b *testing.B) {
	e := testEngine(b, nil)
	items := make([]rma.Item, 1000)
	for i := range items {
		switch i % 4 {
		case 0:
			items[i] = router()
		case 1:
			items[i] = drone()
		case 2:
			items[i] = with(router(), func(it *rma.Item) { it.PurchaseDate = "31.02.2026"; it.Quantity = "3" })
		default:
			items[i] = with(drone(), func(it *rma.Item) { it.FaultType = "water"; it.ClaimType = "fast_refund" })
		}
		items[i].Line = i + 1
		items[i].Serial += strconv.Itoa(i)
	}
	sub := rma.Submission{PartnerID: partnerGR, Items: items}
	b.ReportAllocs()
	for b.Loop() {
		e.Evaluate(sub, testNow)
	}
}
