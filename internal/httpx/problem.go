package httpx

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/crm-es/crm/domain"
	"github.com/gin-gonic/gin"
)

// ContentTypeProblem is the media type of every error answer.
const ContentTypeProblem = "application/problem+json"

// Problem types. Most problems use "about:blank" (the status says it all);
// validation failures have their own type so clients can look for errors[].
const (
	TypeBlank              = "about:blank"
	TypeValidation         = "urn:crm:problem:validation"
	TypePreconditionFailed = "urn:crm:problem:precondition-failed"
)

// Problem is an RFC 7807 problem detail.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	// Errors lists every bad field of a validation problem by its body
	// name ("name", "prospect.name", "lines[0].sku").
	Errors []domain.FieldError `json:"errors,omitempty"`
}

// StatusOf is the one mapping from an error kind to an HTTP status:
//
//	invalid     400 Bad Request (malformed bodies and broken invariants alike)
//	not found   404 Not Found
//	conflict    409 Conflict (the entity changed, or its state forbids the change)
//	forbidden   403 Forbidden
//	unavailable 503 Service Unavailable
//	internal    500 Internal Server Error
//
// 412 (If-Match), 401 and 413 are decided by the HTTP layer, not by a kind.
func StatusOf(kind domain.Kind) int {
	switch kind {
	case domain.KindInvalid:
		return http.StatusBadRequest
	case domain.KindNotFound:
		return http.StatusNotFound
	case domain.KindConflict:
		return http.StatusConflict
	case domain.KindForbidden:
		return http.StatusForbidden
	case domain.KindUnavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// New returns a problem with the given status, its standard title and
// detail.
func New(status int, detail string) Problem {
	return Problem{Type: TypeBlank, Title: http.StatusText(status), Status: status, Detail: detail}
}

// ProblemOf turns an error into the problem to show the client. Only a
// *domain.Error's Message and Fields reach the client; anything else, and
// every internal error, becomes a generic 500 whose detail is logged (with
// the method and path) but never sent.
func ProblemOf(err error) Problem {
	var de *domain.Error
	if !errors.As(err, &de) || de.Kind == domain.KindInternal {
		return New(http.StatusInternalServerError, "internal error")
	}
	p := New(StatusOf(de.Kind), de.Message)
	if de.Kind == domain.KindInvalid {
		p.Type = TypeValidation
		p.Errors = de.Fields
	}
	return p
}

// Write answers with p as application/problem+json. Missing type and title
// are filled in.
func Write(w http.ResponseWriter, p Problem) {
	if p.Type == "" {
		p.Type = TypeBlank
	}
	if p.Title == "" {
		p.Title = http.StatusText(p.Status)
	}
	h := w.Header()
	h.Set("Content-Type", ContentTypeProblem)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(p.Status)
	_ = jsonEncode(w, p)
}

// Abort writes p and aborts the Gin handler chain.
func Abort(c *gin.Context, p Problem) {
	Write(c.Writer, p)
	c.Abort()
}

// AbortError answers err as a problem (see ProblemOf), logging internal
// and unavailable errors with their detail.
func AbortError(c *gin.Context, logger *slog.Logger, err error) {
	p := ProblemOf(err)
	if p.Status >= 500 && logger != nil {
		logger.ErrorContext(c.Request.Context(), "request failed",
			"method", c.Request.Method, "path", c.Request.URL.Path, "status", p.Status, "err", err)
	}
	if p.Status == http.StatusServiceUnavailable {
		c.Header("Retry-After", "1")
	}
	Abort(c, p)
}

// Unauthorized answers 401 with a WWW-Authenticate challenge; invalid says
// whether a credential was presented (and refused).
func Unauthorized(c *gin.Context, detail string, invalid bool) {
	challenge := `Bearer realm="crm"`
	if invalid {
		challenge += `, error="invalid_token"`
	}
	c.Header("WWW-Authenticate", challenge)
	Abort(c, New(http.StatusUnauthorized, detail))
}

// Forbidden answers 403.
func Forbidden(c *gin.Context, detail string) { Abort(c, New(http.StatusForbidden, detail)) }

// PreconditionFailed answers 412 (an If-Match revision that is not the
// stream's current one). current < -1 means unknown.
func PreconditionFailed(c *gin.Context, detail string, current int64) {
	if current >= -1 {
		c.Header("ETag", strconv.Quote(strconv.FormatInt(current, 10)))
	}
	p := New(http.StatusPreconditionFailed, detail)
	p.Type = TypePreconditionFailed
	Abort(c, p)
}

// TooLarge answers 413.
func TooLarge(c *gin.Context, limit int64) {
	Abort(c, New(http.StatusRequestEntityTooLarge, "request body larger than "+strconv.FormatInt(limit, 10)+" bytes"))
}

// Invalid answers 400 with a validation problem listing fields.
func Invalid(c *gin.Context, detail string, fields ...domain.FieldError) {
	p := New(http.StatusBadRequest, detail)
	p.Type = TypeValidation
	p.Errors = fields
	Abort(c, p)
}
