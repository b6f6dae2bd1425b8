package readmodels

import (
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/crm-es/crm/domain"
)

// jsonAppender is implemented by documents with a hand-written encoder
// (the hot ones of a rebuild). appendJSON appends exactly what
// json.Marshal writes for the document, or reports false when it cannot
// (setDoc then uses json.Marshal, which reports the error).
type jsonAppender interface {
	appendJSON(b []byte) ([]byte, bool)
}

// appendJSONString appends s as encoding/json writes it.
func appendJSONString(b []byte, s string) []byte {
	if plainASCII(s) {
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	q, _ := json.Marshal(s) // a string always encodes
	return append(b, q...)
}

func appendDecimal(b []byte, d domain.Decimal) []byte {
	b = append(b, '"')
	b = d.Append(b)
	return append(b, '"')
}

// appendTime appends what time.Time's MarshalJSON writes: the quoted
// AppendText form (RFC 3339 with sub-second precision), false when the
// time has no RFC 3339 form.
func appendTime(b []byte, t time.Time) ([]byte, bool) {
	out, err := t.AppendText(append(b, '"'))
	if err != nil {
		return b, false
	}
	return append(out, '"'), true
}

var _ jsonAppender = (*Order)(nil)

// appendJSON writes the order document with the field order, omissions
// and encodings of its struct tags (TestOrderAppendJSON compares it with
// json.Marshal).
func (o *Order) appendJSON(b []byte) ([]byte, bool) {
	ok := true
	str := func(key, v string, omitEmpty bool) {
		if omitEmpty && v == "" {
			return
		}
		b = append(b, key...)
		b = appendJSONString(b, v)
	}
	tm := func(key string, t *time.Time) {
		if t == nil {
			return
		}
		b = append(b, key...)
		var good bool
		b, good = appendTime(b, *t)
		ok = ok && good
	}
	b = append(b, `{"id":`...)
	b = appendJSONString(b, o.ID)
	str(`,"stream":`, o.Stream, false)
	b = append(b, `,"revision":`...)
	b = strconv.AppendUint(b, o.Revision, 10)
	b = append(b, `,"position":"`...)
	b = strconv.AppendUint(b, o.Position, 10)
	b = append(b, '"')
	str(`,"customerId":`, o.CustomerID, false)
	str(`,"orderNo":`, o.OrderNo, true)
	tm(`,"orderedAt":`, &o.OrderedAt)
	str(`,"currency":`, o.Currency, false)
	b = append(b, `,"lines":`...)
	if o.Lines == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, l := range o.Lines {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"sku":`...)
			b = appendJSONString(b, l.SKU)
			str(`,"description":`, l.Description, true)
			b = append(b, `,"quantity":`...)
			b = appendDecimal(b, l.Quantity)
			str(`,"unit":`, l.Unit, true)
			b = append(b, `,"unitPrice":`...)
			b = appendDecimal(b, l.UnitPrice)
			b = append(b, `,"amount":`...)
			b = appendDecimal(b, l.Amount)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(b, `,"total":`...)
	b = appendDecimal(b, o.Total)
	str(`,"shippingAddress":`, o.ShippingAddress, true)
	str(`,"status":`, o.Status, false)
	str(`,"carrier":`, o.Carrier, true)
	str(`,"trackingNo":`, o.TrackingNo, true)
	tm(`,"shippedAt":`, o.ShippedAt)
	tm(`,"deliveredAt":`, o.DeliveredAt)
	b = append(b, `,"payments":`...)
	b = strconv.AppendInt(b, int64(o.Payments), 10)
	b = append(b, `,"paid":`...)
	b = appendDecimal(b, o.Paid)
	b = append(b, `,"fullyPaid":`...)
	b = strconv.AppendBool(b, o.FullyPaid)
	b = append(b, `,"returns":`...)
	b = strconv.AppendInt(b, int64(o.Returns), 10)
	b = append(b, `,"returned":`...)
	b = appendDecimal(b, o.Returned)
	tm(`,"cancelledAt":`, o.CancelledAt)
	str(`,"cancelReason":`, o.CancelReason, true)
	b = append(b, `,"net":`...)
	b = appendDecimal(b, o.Net)
	return append(b, '}'), ok
}

// appendAmounts appends what Amounts.MarshalJSON writes (encoding/json
// keeps it as is: it is compact and escaped already).
func appendAmounts(b []byte, a Amounts) ([]byte, bool) { return a.appendJSON(b), true }

// appendIntMap appends a map[string]int as encoding/json does: null when
// nil, keys sorted.
func appendIntMap(b []byte, m map[string]int) []byte {
	if m == nil {
		return append(b, "null"...)
	}
	b = append(b, '{')
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = strconv.AppendInt(b, int64(m[k]), 10)
	}
	return append(b, '}')
}

func appendOrderMonth(b []byte, m OrderMonth) ([]byte, bool) {
	b = append(b, `{"orders":`...)
	b = strconv.AppendInt(b, int64(m.Orders), 10)
	b = append(b, `,"cancelled":`...)
	b = strconv.AppendInt(b, int64(m.Cancelled), 10)
	b = append(b, `,"placed":`...)
	b, ok1 := appendAmounts(b, m.Placed)
	b = append(b, `,"net":`...)
	b, ok2 := appendAmounts(b, m.Net)
	return append(b, '}'), ok1 && ok2
}

func appendBucket(b []byte, k Bucket) ([]byte, bool) {
	b = append(b, `{"count":`...)
	b = strconv.AppendInt(b, int64(k.Count), 10)
	ok := true
	if len(k.Value) > 0 {
		b = append(b, `,"value":`...)
		b, ok = appendAmounts(b, k.Value)
	}
	return append(b, '}'), ok
}

var _ jsonAppender = (*Overview)(nil)

// appendJSON writes the overview as json.Marshal does (TestReportAppendJSON).
func (o *Overview) appendJSON(b []byte) ([]byte, bool) {
	ok, good := true, true
	b = append(b, '{')
	if o.AsOf != nil {
		b = append(b, `"asOf":`...)
		b, good = appendTime(b, *o.AsOf)
		ok = ok && good
		b = append(b, ',')
	}
	if o.ThisMonth != "" {
		b = append(b, `"thisMonth":`...)
		b = appendJSONString(b, o.ThisMonth)
		b = append(b, ',')
	}
	b = append(b, `"customers":`...)
	b = strconv.AppendInt(b, int64(o.Customers), 10)
	b = append(b, `,"customersByStatus":`...)
	b = appendIntMap(b, o.CustomersByStatus)
	b = append(b, `,"openOpportunities":`...)
	b, good = appendBucket(b, o.OpenOpportunities)
	ok = ok && good
	b = append(b, `,"wonOpportunities":`...)
	b, good = appendBucket(b, o.WonOpportunities)
	ok = ok && good
	b = append(b, `,"openServiceRequests":`...)
	b = strconv.AppendInt(b, int64(o.OpenServiceRequests), 10)
	b = append(b, `,"openComplaints":`...)
	b = strconv.AppendInt(b, int64(o.OpenComplaints), 10)
	b = append(b, `,"orders":`...)
	b = strconv.AppendInt(b, int64(o.Orders), 10)
	b = append(b, `,"revenue":`...)
	b, good = appendAmounts(b, o.Revenue)
	ok = ok && good
	b = append(b, `,"ordersByMonth":`...)
	if o.OrdersByMonth == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '{')
		for i, k := range slices.Sorted(maps.Keys(o.OrdersByMonth)) {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
			b = append(b, ':')
			b, good = appendOrderMonth(b, o.OrdersByMonth[k])
			ok = ok && good
		}
		b = append(b, '}')
	}
	b = append(b, `,"interactionsByMonth":`...)
	b = appendIntMap(b, o.InteractionsByMonth)
	b = append(b, `,"ordersThisMonth":`...)
	b, good = appendOrderMonth(b, o.OrdersThisMonth)
	ok = ok && good
	b = append(b, `,"interactionsThisMonth":`...)
	b = strconv.AppendInt(b, int64(o.InteractionsThisMonth), 10)
	return append(b, '}'), ok
}

var _ jsonAppender = (*Composition)(nil)

// appendJSON writes the composition as json.Marshal does.
func (c *Composition) appendJSON(b []byte) ([]byte, bool) {
	b = append(b, `{"total":`...)
	b = strconv.AppendInt(b, int64(c.Total), 10)
	b = append(b, `,"byLevel":`...)
	b = appendIntMap(b, c.ByLevel)
	b = append(b, `,"byCredit":`...)
	b = appendIntMap(b, c.ByCredit)
	b = append(b, `,"bySatisfaction":`...)
	b = appendIntMap(b, c.BySatisfaction)
	b = append(b, `,"byRegion":`...)
	b = appendIntMap(b, c.ByRegion)
	b = append(b, `,"byStatus":`...)
	b = appendIntMap(b, c.ByStatus)
	return append(b, '}'), true
}
