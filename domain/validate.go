package domain

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Text length limits (in characters) applied by the command methods.
const (
	MaxShortText = 200   // names, titles, ids, phone numbers, …
	MaxLongText  = 10000 // summaries, details, request texts, handling notes
)

// fieldErrors collects validation failures in the order they are found.
type fieldErrors []FieldError

func (f *fieldErrors) add(field, format string, args ...any) {
	*f = append(*f, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

func (f fieldErrors) err() error { return Invalid(f...) }

// required checks a trimmed required text field.
func (f *fieldErrors) required(field, v string, maxLen int) {
	if v == "" {
		f.add(field, "is required")
		return
	}
	f.maxLen(field, v, maxLen)
}

func (f *fieldErrors) maxLen(field, v string, maxLen int) {
	if n := utf8.RuneCountInString(v); n > maxLen {
		f.add(field, "must be at most %d characters", maxLen)
	} else if !utf8.ValidString(v) {
		f.add(field, "must be valid UTF-8")
	}
}

// MaxFutureSkew is how far after the command's time a business time that
// says when something happened (an interaction's occurredAt, an order's
// orderedAt) may lie: room for clocks and time zones, not for typos such as
// 2062 for 2026, which would pin every "this month" figure to that date.
const MaxFutureSkew = 24 * time.Hour

// notFuture checks that a business time of something that happened is not
// more than MaxFutureSkew after the command time at.
func (f *fieldErrors) notFuture(field string, t, at time.Time) {
	if t.After(at.Add(MaxFutureSkew)) {
		f.add(field, "must not be in the future (at most 24 hours after the time of the command)")
	}
}

func (f *fieldErrors) rng(field string, v, lo, hi int) {
	if v < lo || v > hi {
		f.add(field, "must be between %d and %d", lo, hi)
	}
}

func (f *fieldErrors) currency(field, v string) {
	if v == "" {
		f.add(field, "is required")
	} else if !ValidCurrency(v) {
		f.add(field, "must be an ISO 4217 code of three upper-case letters")
	}
}

func (f *fieldErrors) oneOf(field, v string, allowed []string) {
	if v == "" {
		f.add(field, "is required")
		return
	}
	for _, a := range allowed {
		if v == a {
			return
		}
	}
	f.add(field, "must be one of %s", strings.Join(allowed, ", "))
}

func trim(s string) string { return strings.TrimSpace(s) }

func conflict(format string, args ...any) error { return Errorf(KindConflict, format, args...) }

func notFound(format string, args ...any) error { return Errorf(KindNotFound, format, args...) }

// notCreated is the error of a command on an aggregate that has no events.
func notCreated(what string) error { return notFound("%s does not exist", what) }

// alreadyCreated is the error of a creation command on an existing aggregate.
func alreadyCreated(what string) error { return conflict("%s already exists", what) }

func utc(t time.Time) time.Time { return t.UTC() }

func itoa(n int) string { return strconv.Itoa(n) }

func timeText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func decText(d *Decimal) string {
	if d == nil {
		return ""
	}
	return d.String()
}
