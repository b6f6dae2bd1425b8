package domain

import (
	"errors"
	"fmt"
	"strings"
)

// Kind classifies an error for callers: the HTTP layer maps each kind to one
// status (one function does that, in internal/httpx), the command layer
// decides whether to retry, and logs keep the wrapped detail.
type Kind int

const (
	KindInternal    Kind = iota // a bug or an unexpected failure (the zero value: never hide one as something milder)
	KindInvalid                 // the request is malformed or breaks an invariant
	KindNotFound                // the addressed entity does not exist
	KindConflict                // the entity changed, or its state forbids the change
	KindForbidden               // the actor may not do this
	KindUnavailable             // a dependency is down; retrying later may work
)

// String returns the kind's name ("invalid", "not found", …).
func (k Kind) String() string {
	switch k {
	case KindInvalid:
		return "invalid"
	case KindNotFound:
		return "not found"
	case KindConflict:
		return "conflict"
	case KindForbidden:
		return "forbidden"
	case KindUnavailable:
		return "unavailable"
	default:
		return "internal"
	}
}

// FieldError names one bad field by its request/body name (e.g. "name",
// "prospect.name", "lines[0].sku") and says what is wrong with it.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is the project's one error type. Message is safe to show a client;
// Err (wrapped) carries the detail for logs only.
type Error struct {
	Kind    Kind
	Message string
	Fields  []FieldError
	Err     error
}

// Error returns the message followed by the field errors and the wrapped
// error, for logs.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Message)
	for i, f := range e.Fields {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(f.Field + ": " + f.Message)
	}
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the wrapped error, for errors.Is and errors.As.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error of the given kind with a client-safe message.
func Errorf(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error of the given kind whose client-safe message is msg
// and whose logged detail is err.
func Wrap(kind Kind, err error, msg string) *Error {
	return &Error{Kind: kind, Message: msg, Err: err}
}

// Invalid returns a validation error listing every bad field; nil when
// fields is empty, so callers can collect then return Invalid(fields...).
func Invalid(fields ...FieldError) error {
	if len(fields) == 0 {
		return nil
	}
	return &Error{Kind: KindInvalid, Message: "validation failed", Fields: fields}
}

// KindOf returns the kind of the first *Error in err's chain, KindInternal
// when there is none.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}
