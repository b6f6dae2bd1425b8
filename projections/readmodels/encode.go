package readmodels

import (
	"encoding/json"
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
	b = append(b, d.String()...)
	return append(b, '"')
}

func appendTime(b []byte, t time.Time) ([]byte, bool) {
	q, err := t.MarshalJSON()
	if err != nil {
		return b, false
	}
	return append(b, q...), true
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
