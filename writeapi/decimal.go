package writeapi

import (
	"bytes"
	"encoding/json"
	"strings"
)

// decimalText is a decimal given as a JSON string ("12.50") or number
// (12.5). It never fails to decode: anything else is kept as bad, so the
// validation can name the field.
type decimalText struct {
	set  bool
	text string
	bad  bool
}

func (d *decimalText) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*d = decimalText{}
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			*d = decimalText{set: true, bad: true}
			return nil
		}
		*d = decimalText{set: true, text: s}
	case len(b) > 0 && (b[0] == '-' || (b[0] >= '0' && b[0] <= '9')):
		*d = decimalText{set: true, text: string(b)}
	default:
		*d = decimalText{set: true, bad: true}
	}
	return nil
}

// decimalOf validates an optional decimal field.
func (f *fields) decimalOf(name string, d decimalText, required bool) *decimalValue {
	if !d.set || (d.text == "" && !d.bad) {
		if required {
			f.add(name, "is required")
		}
		return nil
	}
	if d.bad {
		f.add(name, "must be a decimal number, e.g. \"12.50\"")
		return nil
	}
	v := f.decimal(name, &d.text, required)
	if v == nil {
		return nil
	}
	return &decimalValue{*v}
}

// textValue is a string field inside an array element: it never fails to
// decode, so a wrong type is reported with the element's index
// ("lines[2].sku") instead of encoding/json's index-less path.
type textValue struct {
	set  bool
	text string
	bad  bool
}

func (t *textValue) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		*t = textValue{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		*t = textValue{set: true, bad: true}
		return nil
	}
	*t = textValue{set: true, text: s}
	return nil
}

// textOf returns an element's text field, reporting a wrong type (and a
// missing required value) under name.
func (f *fields) textOf(name string, t textValue, required bool) string {
	switch {
	case t.bad:
		f.add(name, "must be a string")
	case required && strings.TrimSpace(t.text) == "":
		f.add(name, "is required")
	}
	return t.text
}
