package audit

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzParseLinkData: never panics; what it accepts round-trips.
func FuzzParseLinkData(f *testing.F) {
	for _, s := range []string{"0@customer-1", "12@order-x", "@x", "1@", "01@x", "-1@x", "18446744073709551616@x", "3@a@b", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		stream, rev, err := ParseLinkData(b)
		if err != nil {
			return
		}
		if got := string(LinkData(stream, rev)); got != string(b) {
			t.Fatalf("round trip %q -> %q", b, got)
		}
	})
}

// FuzzParseCursor: never panics; what it accepts round-trips.
func FuzzParseCursor(f *testing.F) {
	for _, s := range []string{"", Cursor{LinkRevision: 3, After: 99}.String(), "aDE6MToy", "!!", "aDE6eDox"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCursor(s)
		if err != nil || s == "" {
			return
		}
		again, err := ParseCursor(c.String())
		if err != nil || again != c {
			t.Fatalf("%q: %+v does not round-trip: %+v %v", s, c, again, err)
		}
	})
}

// FuzzParseTime: never panics; accepted times are UTC and survive RFC 3339.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2024-03-01T09:30:00Z", "2024-03-01", "2024-03-01T09:30:00.123+02:00", "x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := ParseTime(s)
		if err != nil {
			if !utf8.ValidString(err.Error()) && utf8.ValidString(s) {
				t.Fatalf("invalid error text for %q", s)
			}
			return
		}
		if tm.Location() != time.UTC {
			t.Fatalf("%q: not UTC", s)
		}
		back, err := ParseTime(tm.Format(time.RFC3339Nano))
		if err != nil || !back.Equal(tm) {
			t.Fatalf("%q: %v does not round-trip: %v %v", s, tm, back, err)
		}
	})
}

// FuzzEventRecorded: any JSON line decodes into an Event and converts back
// (or fails) without panicking.
func FuzzEventRecorded(f *testing.F) {
	f.Add(`{"stream":"customer-1","revision":1,"position":"5","eventId":"6ba7b810-9dad-11d1-80b4-00c04fd430c8","type":"X","data":{"a":1},"metadata":{"prevHash":"00"}}`)
	f.Add(`{"data":"AAE=","dataEncoding":"base64","metadata":"x"}`)
	f.Fuzz(func(t *testing.T, line string) {
		var e Event
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			return
		}
		r, err := e.Recorded()
		if err == nil && e.DataEncoding == "" && string(r.Data) != string(e.Data) {
			t.Fatalf("data changed: %q vs %q", r.Data, e.Data)
		}
	})
}

// FuzzVerifyNDJSON: any input is verified or refused without panicking.
func FuzzVerifyNDJSON(f *testing.F) {
	f.Add(`{"stream":"customer-1","revision":0,"position":"1","eventId":"6ba7b810-9dad-11d1-80b4-00c04fd430c8","type":"X","data":{},"metadata":{"prevHash":"0000000000000000000000000000000000000000000000000000000000000000","hash":"00"}}`)
	f.Add("\n\n{}\nx")
	f.Add(`{"stream":"s","type":"T","data":"AA==","dataEncoding":"base64","metadata":"m"}`)
	f.Fuzz(func(t *testing.T, in string) {
		reps, err := VerifyNDJSON(strings.NewReader(in))
		for _, r := range reps {
			if r.OK == (r.FirstBreak != nil) {
				t.Fatalf("report %+v: OK and FirstBreak disagree", r)
			}
		}
		_ = err
	})
}
