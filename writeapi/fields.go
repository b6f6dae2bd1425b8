package writeapi

import (
	"strconv"
	"strings"
	"time"

	"github.com/crm-es/crm/domain"
	"github.com/google/uuid"
)

// fields collects validation failures of a request body.
type fields []domain.FieldError

func (f *fields) add(field, msg string) {
	*f = append(*f, domain.FieldError{Field: field, Message: msg})
}

func (f fields) err() error { return domain.Invalid(f...) }

// requiredInt reads a required integer field.
func (f *fields) requiredInt(name string, v *int) int {
	if v == nil {
		f.add(name, "is required")
		return 0
	}
	return *v
}

// requiredText checks that a text field is present and not blank.
func (f *fields) requiredText(name string, v *string) string {
	if v == nil || strings.TrimSpace(*v) == "" {
		f.add(name, "is required")
		return ""
	}
	return *v
}

// text returns an optional text field ("" when absent).
func text(v *string) string {
	if v == nil {
		return ""
	}
	return *v
}

// time parses an RFC 3339 time; absent → zero (required: an error).
func (f *fields) time(name string, v *string, required bool) time.Time {
	if v == nil || *v == "" {
		if required {
			f.add(name, "is required")
		}
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, *v)
	if err != nil {
		f.add(name, "must be an RFC 3339 time, e.g. 2024-03-01T09:30:00Z")
		return time.Time{}
	}
	return t
}

// date parses an RFC 3339 time or a plain date (YYYY-MM-DD, midnight UTC).
func (f *fields) date(name string, v *string, required bool) time.Time {
	if v != nil && len(*v) == len("2006-01-02") {
		if t, err := time.Parse("2006-01-02", *v); err == nil {
			return t
		}
	}
	return f.time(name, v, required)
}

// uuid parses an optional UUID field; absent → nil.
func (f *fields) uuid(name string, v *string, required bool) *uuid.UUID {
	if v == nil || *v == "" {
		if required {
			f.add(name, "is required")
		}
		return nil
	}
	id, err := uuid.Parse(*v)
	if err != nil || len(*v) != 36 || id == uuid.Nil {
		f.add(name, "must be a UUID")
		return nil
	}
	return &id
}

// decimal parses an optional decimal string; absent → nil.
func (f *fields) decimal(name string, v *string, required bool) *domain.Decimal {
	if v == nil || *v == "" {
		if required {
			f.add(name, "is required")
		}
		return nil
	}
	d, err := domain.ParseDecimal(*v)
	if err != nil {
		f.add(name, "must be a decimal number as a string, e.g. \"12.50\"")
		return nil
	}
	return &d
}

type uuidT = uuid.UUID

func itoa(n int) string { return strconv.Itoa(n) }
