package label

import (
	"fmt"
	"strings"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/rma"
)

// Wanted reports whether an item gets a label: it is accepted, numbered, and the partner sends
// it to the service centre (in_house, vendor_ticket). Forwarded and vendor_direct items get
// none: the manufacturer handles their parcel.
func Wanted(d rma.Decision) bool {
	return d.Result == rma.ResultAccepted && d.Number != "" &&
		(d.Route.Handling == rma.HandlingInHouse || d.Route.Handling == rma.HandlingVendorTicket)
}

// ForDecision is the label of a just-numbered item of partner p, addressed to the service
// centre of p's country. A new RMA's receiver-pays request is not approved yet.
func ForDecision(d rma.Decision, p rma.Partner, centers config.ServiceCenters) Label {
	l := Label{
		Number:        d.Number,
		Locale:        p.Locale,
		Partner:       p.Name,
		OwnNumber:     strings.TrimSpace(d.Item.OwnNumber),
		Serial:        strings.TrimSpace(d.Item.Serial),
		ReturnAddress: strings.TrimSpace(p.ReturnAddress),
	}
	if l.Partner == "" {
		l.Partner = p.ID
	}
	if d.Product != nil {
		l.Brand, l.Model = d.Product.Brand, d.Product.Model
	}
	if sc, ok := centers.For(p.Country); ok {
		l.CenterName, l.CenterAddress = sc.Name, sc.Address
	}
	return l
}

// ForRecord is the label of a stored RMA (rmad label, the console's RMA page): as sent with
// the reply, with "receiver pays: approved" once staff approved it. An RMA the partner does not
// send to the service centre has no label: the error says so.
func ForRecord(r rma.Record, p rma.Partner, centers config.ServiceCenters) (Label, error) {
	d := r.Decision
	d.Number = r.Number
	d.Result = rma.ResultAccepted // every stored RMA was accepted
	if !Wanted(d) {
		return Label{}, fmt.Errorf("label: %s is handled %s: the manufacturer handles its parcel, so it has no label",
			r.Number, d.Route.Handling)
	}
	l := ForDecision(d, p, centers)
	l.ReceiverPays = r.ApprovedReceiverPays()
	return l, nil
}

// ForReply is the labels of a submission's decisions that get one, in their order.
func ForReply(ds []rma.Decision, p rma.Partner, centers config.ServiceCenters) []Label {
	var out []Label
	for _, d := range ds {
		if Wanted(d) {
			out = append(out, ForDecision(d, p, centers))
		}
	}
	return out
}
