package domain

import (
	"bytes"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Fast decoders of the hot events of a projector rebuild (OrderPlaced,
// OrderCancelled, OrderReturned, CustomerRegistered): hand-written, without
// reflection, for the stored form of today's schema version. String
// fields may hold escapes (decoded as encoding/json does) and UTF-8. Each
// one returns ok false on anything it does not decode exactly as
// encoding/json would, and the caller then takes the encoding/json path:
//
//   - control characters, invalid UTF-8 or a lone surrogate escape in a
//     string (encoding/json would write U+FFFD), escapes in a key or in a
//     uuid, time or decimal;
//   - a key that is not exactly one of the type's fields (encoding/json
//     would match it case-insensitively or ignore it), a duplicate key;
//   - null, a value of another JSON type than the stored form (a number
//     for a Decimal, a string for an int), a number with a fraction or an
//     exponent for an int, more than 18 digits;
//   - invalid JSON, trailing data after the object;
//   - a value the field's own decoder refuses (a bad uuid, time or decimal),
//     so the error comes from the general path.
//
// When ok is true the value is what json.Unmarshal into a zero value gives:
// times through (*time.Time).UnmarshalJSON, uuids through
// (*uuid.UUID).UnmarshalText, decimals through ParseDecimal (what
// (*Decimal).UnmarshalJSON does for a string), an empty array as an empty
// non-nil slice. The FuzzDecode<Type>Fast targets check it.

// fastEvent reads an event object: member reads the value of one key into
// *e (marking it in r.seen) and reports false for a key that is not one of
// the type's fields; ok false on anything else fastJSON refuses.
func fastEvent[T any](b []byte, member func(r *fastJSON, key []byte, e *T) bool) (e T, ok bool) {
	r := fastJSON{b: b}
	for more := r.openObject(); more; more = r.nextMember() {
		if !member(&r, r.key(), &e) {
			var zero T
			return zero, false
		}
	}
	if !r.end() {
		var zero T
		return zero, false
	}
	return e, true
}

// DecodeOrderPlacedFast decodes the stored JSON of an OrderPlaced; ok false
// means "use encoding/json" (see above), never that the data is wrong.
func DecodeOrderPlacedFast(b []byte) (OrderPlaced, bool) {
	return fastEvent(b, func(r *fastJSON, key []byte, e *OrderPlaced) bool {
		switch string(key) {
		case "orderId":
			r.once(&r.seen, 0)
			r.uuid(&e.OrderID)
		case "customerId":
			r.once(&r.seen, 1)
			r.uuid(&e.CustomerID)
		case "orderNo":
			r.once(&r.seen, 2)
			e.OrderNo = r.str()
		case "orderedAt":
			r.once(&r.seen, 3)
			r.time(&e.OrderedAt)
		case "currency":
			r.once(&r.seen, 4)
			e.Currency = r.str()
		case "lines":
			r.once(&r.seen, 5)
			e.Lines = r.orderLines()
		case "total":
			r.once(&r.seen, 6)
			r.decimal(&e.Total)
		case "shippingAddress":
			r.once(&r.seen, 7)
			e.ShippingAddress = r.str()
		default:
			return false
		}
		return true
	})
}

// DecodeOrderCancelledFast decodes the stored JSON of an OrderCancelled;
// ok false means "use encoding/json".
func DecodeOrderCancelledFast(b []byte) (OrderCancelled, bool) {
	return fastEvent(b, func(r *fastJSON, key []byte, e *OrderCancelled) bool {
		switch string(key) {
		case "orderId":
			r.once(&r.seen, 0)
			r.uuid(&e.OrderID)
		case "customerId":
			r.once(&r.seen, 1)
			r.uuid(&e.CustomerID)
		case "reason":
			r.once(&r.seen, 2)
			e.Reason = r.str()
		case "previousStatus":
			r.once(&r.seen, 3)
			e.PreviousStatus = OrderStatus(r.str())
		case "total":
			r.once(&r.seen, 4)
			r.decimal(&e.Total)
		case "currency":
			r.once(&r.seen, 5)
			e.Currency = r.str()
		case "cancelledAt":
			r.once(&r.seen, 6)
			r.time(&e.CancelledAt)
		default:
			return false
		}
		return true
	})
}

// DecodeOrderReturnedFast decodes the stored JSON of an OrderReturned; ok
// false means "use encoding/json".
func DecodeOrderReturnedFast(b []byte) (OrderReturned, bool) {
	return fastEvent(b, func(r *fastJSON, key []byte, e *OrderReturned) bool {
		switch string(key) {
		case "orderId":
			r.once(&r.seen, 0)
			r.uuid(&e.OrderID)
		case "customerId":
			r.once(&r.seen, 1)
			r.uuid(&e.CustomerID)
		case "returnNo":
			r.once(&r.seen, 2)
			e.ReturnNo = r.int()
		case "lines":
			r.once(&r.seen, 3)
			e.Lines = r.returnLines()
		case "amount":
			r.once(&r.seen, 4)
			r.decimal(&e.Amount)
		case "currency":
			r.once(&r.seen, 5)
			e.Currency = r.str()
		case "reason":
			r.once(&r.seen, 6)
			e.Reason = r.str()
		case "returnedTotal":
			r.once(&r.seen, 7)
			r.decimal(&e.ReturnedTotal)
		case "returnedAt":
			r.once(&r.seen, 8)
			r.time(&e.ReturnedAt)
		default:
			return false
		}
		return true
	})
}

// DecodeCustomerRegisteredFast decodes the stored JSON of a
// CustomerRegistered, whose Profile fields are flattened into the event; ok
// false means "use encoding/json".
func DecodeCustomerRegisteredFast(b []byte) (CustomerRegistered, bool) {
	return fastEvent(b, func(r *fastJSON, key []byte, e *CustomerRegistered) bool {
		switch string(key) {
		case "customerId":
			r.once(&r.seen, 0)
			r.uuid(&e.CustomerID)
		case "name":
			r.once(&r.seen, 1)
			e.Name = r.str()
		case "region":
			r.once(&r.seen, 2)
			e.Region = r.str()
		case "industry":
			r.once(&r.seen, 3)
			e.Industry = r.str()
		case "address":
			r.once(&r.seen, 4)
			e.Address = r.str()
		case "zip":
			r.once(&r.seen, 5)
			e.Zip = r.str()
		case "phone":
			r.once(&r.seen, 6)
			e.Phone = r.str()
		case "fax":
			r.once(&r.seen, 7)
			e.Fax = r.str()
		case "website":
			r.once(&r.seen, 8)
			e.Website = r.str()
		case "licenceNo":
			r.once(&r.seen, 9)
			e.LicenceNo = r.str()
		case "legalRepresentative":
			r.once(&r.seen, 10)
			e.LegalRepresentative = r.str()
		case "registeredCapital":
			r.once(&r.seen, 11)
			e.RegisteredCapital = r.str()
		case "annualRevenue":
			r.once(&r.seen, 12)
			e.AnnualRevenue = r.str()
		case "bank":
			r.once(&r.seen, 13)
			e.Bank = r.str()
		case "bankAccount":
			r.once(&r.seen, 14)
			e.BankAccount = r.str()
		case "localTaxNo":
			r.once(&r.seen, 15)
			e.LocalTaxNo = r.str()
		case "nationalTaxNo":
			r.once(&r.seen, 16)
			e.NationalTaxNo = r.str()
		case "level":
			r.once(&r.seen, 17)
			e.Level = r.int()
		case "credit":
			r.once(&r.seen, 18)
			e.Credit = r.int()
		case "satisfaction":
			r.once(&r.seen, 19)
			e.Satisfaction = r.int()
		case "ownerId":
			r.once(&r.seen, 20)
			e.OwnerID = r.str()
		case "opportunityId":
			r.once(&r.seen, 21)
			id := new(uuid.UUID)
			r.uuid(id)
			e.OpportunityID = id
		case "externalRef":
			r.once(&r.seen, 22)
			e.ExternalRef = r.str()
		case "registeredAt":
			r.once(&r.seen, 23)
			r.time(&e.RegisteredAt)
		default:
			return false
		}
		return true
	})
}

// orderLines reads the array of an OrderPlaced's lines.
func (r *fastJSON) orderLines() []OrderLine {
	return fastObjects(r, func(key []byte, l *OrderLine) {
		switch string(key) {
		case "sku":
			r.once(&r.elemSeen, 0)
			l.SKU = r.str()
		case "description":
			r.once(&r.elemSeen, 1)
			l.Description = r.str()
		case "quantity":
			r.once(&r.elemSeen, 2)
			r.decimal(&l.Quantity)
		case "unit":
			r.once(&r.elemSeen, 3)
			l.Unit = r.str()
		case "unitPrice":
			r.once(&r.elemSeen, 4)
			r.decimal(&l.UnitPrice)
		case "amount":
			r.once(&r.elemSeen, 5)
			r.decimal(&l.Amount)
		default:
			r.bad = true
		}
	})
}

// fastObjects reads an array of objects into a []T, one member at a time
// through member (which sets r.bad on a key it does not know, and marks
// the members it read in r.elemSeen); nil when the input is not such an
// array. Elements are decoded in place (no allocation per element).
func fastObjects[T any](r *fastJSON, member func(key []byte, v *T)) []T {
	more, ok := r.openArray()
	if !ok {
		return nil
	}
	var zero T
	out := make([]T, 0, r.objectsLeft())
	for more {
		out = append(out, zero)
		r.elemSeen = 0
		for m := r.openObject(); m; m = r.nextMember() {
			member(r.key(), &out[len(out)-1])
			if r.bad {
				return nil
			}
		}
		if r.bad {
			return nil
		}
		more = r.nextElement()
	}
	return out
}

// objectsLeft is the capacity for an array of line objects: every '{' left
// is a line's (or, rarely, in a string), up to maxPreallocLines so that a
// string of braces cannot make a large allocation (append grows beyond).
func (r *fastJSON) objectsLeft() int {
	return min(bytes.Count(r.b[r.i:], []byte{'{'}), maxPreallocLines)
}

const maxPreallocLines = 256

// returnLines reads the array of an OrderReturned's lines.
func (r *fastJSON) returnLines() []ReturnLine {
	return fastObjects(r, func(key []byte, l *ReturnLine) {
		switch string(key) {
		case "sku":
			r.once(&r.elemSeen, 0)
			l.SKU = r.str()
		case "quantity":
			r.once(&r.elemSeen, 1)
			r.decimal(&l.Quantity)
		case "amount":
			r.once(&r.elemSeen, 2)
			r.decimal(&l.Amount)
		default:
			r.bad = true
		}
	})
}

// fastJSON reads the stored form of an event. Any input it does not handle
// sets bad, after which every method returns zero values and does nothing;
// the decoders check bad at the end (end) and at every key.
type fastJSON struct {
	b   []byte
	i   int
	bad bool
	// text is b as a string, made by the first decimal: ParseDecimal then
	// reads substrings of it, one allocation for all the decimals instead
	// of one each (nothing keeps text once the decoder returns: a Decimal
	// holds no string, and string fields are copied by str).
	text string
	// seen marks the members read of the event object (fastEvent),
	// elemSeen those of the current array element (fastObjects).
	seen, elemSeen uint32
}

func (r *fastJSON) ws() {
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

// openObject reads '{' and reports whether a member follows (false for
// "{}" or on bad input).
func (r *fastJSON) openObject() bool {
	r.ws()
	if r.bad || r.i >= len(r.b) || r.b[r.i] != '{' {
		r.bad = true
		return false
	}
	r.i++
	r.ws()
	if r.i < len(r.b) && r.b[r.i] == '}' {
		r.i++
		return false
	}
	return true
}

// nextMember reads the ',' or '}' after a member's value and reports
// whether another member follows.
func (r *fastJSON) nextMember() bool {
	r.ws()
	if r.bad || r.i >= len(r.b) {
		r.bad = true
		return false
	}
	switch r.b[r.i] {
	case ',':
		r.i++
		return true
	case '}':
		r.i++
		return false
	}
	r.bad = true
	return false
}

// openArray reads '[' and reports whether an element follows; ok is false
// on bad input (null included).
func (r *fastJSON) openArray() (more, ok bool) {
	if r.bad || r.i >= len(r.b) || r.b[r.i] != '[' {
		r.bad = true
		return false, false
	}
	r.i++
	r.ws()
	if r.i < len(r.b) && r.b[r.i] == ']' {
		r.i++
		return false, true
	}
	return true, true
}

// nextElement reads the ',' or ']' after an array element and reports
// whether another element follows.
func (r *fastJSON) nextElement() bool {
	r.ws()
	if r.bad || r.i >= len(r.b) {
		r.bad = true
		return false
	}
	switch r.b[r.i] {
	case ',':
		r.i++
		return true
	case ']':
		r.i++
		return false
	}
	r.bad = true
	return false
}

// end reports whether the input was read without trouble up to its end
// (whitespace allowed).
func (r *fastJSON) end() bool {
	r.ws()
	return !r.bad && r.i == len(r.b)
}

// once marks field bit as seen; a second time (a duplicate key) is bad.
func (r *fastJSON) once(seen *uint32, bit uint) {
	if *seen&(1<<bit) != 0 {
		r.bad = true
	}
	*seen |= 1 << bit
}

// key reads a member's key and the ':' after it. A key with an escape or a
// byte outside printable ASCII is bad (it would not match a field exactly).
func (r *fastJSON) key() []byte {
	r.ws()
	if r.bad || r.i >= len(r.b) || r.b[r.i] != '"' {
		r.bad = true
		return nil
	}
	start := r.i + 1
	j := start
	for ; j < len(r.b); j++ {
		c := r.b[j]
		if c == '"' {
			break
		}
		if c < 0x20 || c >= 0x80 || c == '\\' {
			r.bad = true
			return nil
		}
	}
	if j >= len(r.b) {
		r.bad = true
		return nil
	}
	key := r.b[start:j]
	r.i = j + 1
	r.ws()
	if r.i >= len(r.b) || r.b[r.i] != ':' {
		r.bad = true
		return nil
	}
	r.i++
	r.ws()
	return key
}

// rawString reads a JSON string without escapes or control characters and
// returns its contents (a slice of the input); any non-ASCII bytes must be
// valid UTF-8, which encoding/json copies unchanged.
func (r *fastJSON) rawString() []byte {
	if r.bad || r.i >= len(r.b) || r.b[r.i] != '"' {
		r.bad = true
		return nil
	}
	start := r.i + 1
	n := bytes.IndexByte(r.b[start:], '"')
	if n < 0 {
		r.bad = true
		return nil
	}
	j := start + n
	s := r.b[start:j]
	ascii := true
	for _, c := range s {
		if c-0x20 >= 0x60 || c == '\\' { // outside printable ASCII, or a backslash
			if c < 0x20 || c == '\\' {
				r.bad = true
				return nil
			}
			ascii = false
		}
	}
	if !ascii && !utf8.Valid(s) {
		r.bad = true
		return nil
	}
	r.i = j + 1
	return s
}

// str reads a string field. Without escapes its contents are the input's
// bytes; escapes (encoding/json writes \", \\ and \u0026 for &, < and >,
// among others) are decoded by unescape.
func (r *fastJSON) str() string {
	if r.bad || r.i >= len(r.b) || r.b[r.i] != '"' {
		r.bad = true
		return ""
	}
	start := r.i + 1
	n := bytes.IndexByte(r.b[start:], '"')
	if n < 0 {
		r.bad = true
		return ""
	}
	s := r.b[start : start+n]
	ascii := true
	for _, c := range s {
		if c-0x20 >= 0x60 || c == '\\' {
			if c == '\\' {
				return r.unescape(start)
			}
			if c < 0x20 {
				r.bad = true
				return ""
			}
			ascii = false
		}
	}
	if !ascii && !utf8.Valid(s) {
		r.bad = true
		return ""
	}
	r.i = start + n + 1
	if n == 0 {
		return ""
	}
	return string(s)
}

// unescape decodes a string with escapes from b[start] (just after the
// opening quote) as encoding/json does: \" \\ \/ \b \f \n \r \t and
// \uXXXX, a surrogate pair as one rune. What encoding/json would replace
// with U+FFFD (a lone or broken surrogate, invalid UTF-8) is bad, as are
// control characters and unknown escapes (invalid JSON).
func (r *fastJSON) unescape(start int) string {
	b := r.b
	var small [128]byte // most descriptions fit: no allocation but the string's
	buf := small[:0]
	ascii := true
	for j := start; j < len(b); {
		c := b[j]
		switch {
		case c == '"':
			if !ascii && !utf8.Valid(buf) {
				r.bad = true
				return ""
			}
			r.i = j + 1
			return string(buf)
		case c < 0x20:
			r.bad = true
			return ""
		case c != '\\':
			if c >= utf8.RuneSelf {
				ascii = false
			}
			buf = append(buf, c)
			j++
			continue
		}
		if j+1 >= len(b) {
			break
		}
		switch e := b[j+1]; e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			rr := hex4(b, j+2)
			if rr < 0 {
				r.bad = true
				return ""
			}
			if utf16.IsSurrogate(rr) {
				var lo rune = -1
				if j+7 < len(b) && b[j+6] == '\\' && b[j+7] == 'u' {
					lo = hex4(b, j+8)
				}
				rr = utf16.DecodeRune(rr, lo)
				if rr == utf8.RuneError {
					r.bad = true // encoding/json writes U+FFFD here
					return ""
				}
				j += 6
			}
			buf = utf8.AppendRune(buf, rr)
			j += 4
		default:
			r.bad = true
			return ""
		}
		j += 2
	}
	r.bad = true // unterminated
	return ""
}

// hex4 returns the value of the four hex digits at b[i:], or -1.
func hex4(b []byte, i int) rune {
	if i+4 > len(b) {
		return -1
	}
	var v rune
	for _, c := range b[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		v = v<<4 | rune(c)
	}
	return v
}

func (r *fastJSON) uuid(id *uuid.UUID) {
	s := r.rawString()
	if r.bad {
		return
	}
	if id.UnmarshalText(s) != nil {
		r.bad = true
	}
}

// time decodes a string with (*time.Time).UnmarshalJSON, given the quoted
// literal as encoding/json gives it.
func (r *fastJSON) time(t *time.Time) {
	start := r.i
	r.rawString()
	if r.bad {
		return
	}
	if t.UnmarshalJSON(r.b[start:r.i]) != nil {
		r.bad = true
	}
}

// decimal decodes a string with ParseDecimal, which is what
// (*Decimal).UnmarshalJSON does with a JSON string without escapes. A JSON
// number (which UnmarshalJSON accepts leniently) is left to encoding/json.
func (r *fastJSON) decimal(d *Decimal) {
	start := r.i + 1
	r.rawString()
	if r.bad {
		return
	}
	if r.text == "" {
		r.text = string(r.b)
	}
	v, err := ParseDecimal(r.text[start : r.i-1])
	if err != nil {
		r.bad = true
		return
	}
	*d = v
}

// int reads a JSON integer of at most 18 digits (no fraction or exponent,
// no leading zeros), which encoding/json stores in an int unchanged.
func (r *fastJSON) int() int {
	if r.bad {
		return 0
	}
	j, neg := r.i, false
	if j < len(r.b) && r.b[j] == '-' {
		neg = true
		j++
	}
	start, v := j, 0
	for j < len(r.b) && r.b[j] >= '0' && r.b[j] <= '9' && j-start < 18 {
		v = v*10 + int(r.b[j]-'0')
		j++
	}
	digits := j - start
	if digits == 0 || (digits > 1 && r.b[start] == '0') {
		r.bad = true
		return 0
	}
	if j < len(r.b) {
		switch r.b[j] {
		case '.', 'e', 'E', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			r.bad = true
			return 0
		}
	}
	r.i = j
	if neg {
		v = -v
	}
	return v
}
