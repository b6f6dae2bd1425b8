package readapi

// The audit endpoints (DESIGN §8 "Audit"): a customer's history, its state
// as of a record time and hash-chain verification, answered from the event
// log through package audit, never from Redis. They are registered apart
// from the read-model queries (RegisterAudit), so they also run when no
// read store is configured.

import (
	"bufio"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/crm-es/crm/audit"
	"github.com/crm-es/crm/domain"
	"github.com/crm-es/crm/internal/httpx"
)

// ContentTypeNDJSON is the media type of streamed histories: one JSON
// audit event per line.
const ContentTypeNDJSON = "application/x-ndjson"

// AuditConfig configures the audit endpoints.
type AuditConfig struct {
	// Log answers from the event log (required).
	Log *audit.Log
	// Roles may read the audit endpoints (nil = admin and auditor).
	Roles []httpx.Role
	// Logger receives failures (nil = discard).
	Logger *slog.Logger
	// FlushEvery is how many streamed events are written between two
	// flushes of an NDJSON answer (0 = 256).
	FlushEvery int
}

type auditAPI struct {
	log        *audit.Log
	roles      []httpx.Role
	logger     *slog.Logger
	flushEvery int
}

// RegisterAudit mounts, on g (which must authenticate with
// httpx.Authenticate first):
//
//	GET /audit/customers/:id/events   history in log order; {items, nextCursor} or NDJSON (Accept: application/x-ndjson)
//	GET /audit/customers/:id/state    ?asOf=<RFC 3339>: the customer as known at that record time, with its events
//	GET /audit/customers/:id/verify   hash chains of every stream of the customer
//	GET /audit/streams/:stream/verify hash chain of one stream
//
// Only the configured roles (admin and auditor by default) may read them.
func RegisterAudit(g gin.IRoutes, cfg AuditConfig) error {
	if cfg.Log == nil {
		return errors.New("readapi: AuditConfig.Log is required")
	}
	a := &auditAPI{log: cfg.Log, roles: cfg.Roles, logger: cfg.Logger, flushEvery: cfg.FlushEvery}
	if a.roles == nil {
		a.roles = []httpx.Role{httpx.RoleAdmin, httpx.RoleAuditor}
	}
	if a.logger == nil {
		a.logger = slog.New(slog.DiscardHandler)
	}
	if a.flushEvery <= 0 {
		a.flushEvery = 256
	}
	auth := a.authorize()
	g.GET("/audit/customers/:id/events", auth, a.events)
	g.GET("/audit/customers/:id/state", auth, a.state)
	g.GET("/audit/customers/:id/verify", auth, a.verifyCustomer)
	g.GET("/audit/streams/:stream/verify", auth, a.verifyStream)
	return nil
}

// authorize answers 403 unless the principal has one of the audit roles.
func (a *auditAPI) authorize() gin.HandlerFunc {
	names := make([]string, len(a.roles))
	for i, r := range a.roles {
		names[i] = string(r)
	}
	return func(c *gin.Context) {
		p, ok := httpx.PrincipalFrom(c.Request.Context())
		if !ok {
			httpx.Unauthorized(c, "not authenticated", false)
			return
		}
		if !slices.ContainsFunc(a.roles, p.Has) {
			httpx.Forbidden(c, "user "+p.UserID+" may not read the audit log (roles: "+strings.Join(names, ", ")+")")
			return
		}
		c.Next()
	}
}

// customerID parses the :id path parameter (400 naming "id" if bad).
func (a *auditAPI) customerID(c *gin.Context) (uuid.UUID, bool) {
	raw := c.Param("id")
	id, err := uuid.Parse(raw)
	if err != nil || len(raw) != 36 {
		httpx.Invalid(c, "the customer id in the path is not a UUID", domain.FieldError{Field: "id", Message: "must be a UUID such as 0b7a9c1e-2f3d-4e5f-8a9b-0c1d2e3f4a5b"})
		return uuid.Nil, false
	}
	return id, true
}

func (a *auditAPI) fail(c *gin.Context, err error) {
	httpx.AbortError(c, a.logger, err)
}

// auditPage is the JSON answer of a history page.
type auditPage struct {
	Items      []audit.Event `json:"items"`
	NextCursor *string       `json:"nextCursor"`
}

func wantsNDJSON(c *gin.Context) bool {
	for _, part := range strings.Split(c.GetHeader("Accept"), ",") {
		mt, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(mt), ContentTypeNDJSON) {
			return true
		}
	}
	return false
}

func (a *auditAPI) events(c *gin.Context) {
	id, ok := a.customerID(c)
	if !ok {
		return
	}
	var bad []domain.FieldError
	rawCur, _ := once(c, "cursor", &bad)
	cur, err := audit.ParseCursor(rawCur)
	if err != nil {
		bad = append(bad, domain.FieldError{Field: "cursor", Message: "is not a cursor of this endpoint; pass nextCursor from the previous page"})
	}
	limit := 50
	if raw, set := once(c, "limit", &bad); set {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > 200 {
			bad = append(bad, domain.FieldError{Field: "limit", Message: "must be a whole number from 1 to 200"})
		}
		limit = n
	}
	if len(bad) > 0 {
		httpx.Invalid(c, "invalid query parameters", bad...)
		return
	}
	c.Header("Cache-Control", "no-store")
	if wantsNDJSON(c) {
		a.stream(c, id, cur)
		return
	}
	page := auditPage{Items: make([]audit.Event, 0, min(limit, 64))}
	var last audit.Cursor
	err = a.log.History(c.Request.Context(), id, cur, func(e audit.Event, next audit.Cursor) error {
		if len(page.Items) == limit {
			s := last.String()
			page.NextCursor = &s
			return audit.ErrStop
		}
		page.Items = append(page.Items, e)
		last = next
		return nil
	})
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, page)
}

// stream writes the whole history as NDJSON while reading it page by page:
// nothing but the current page is held in memory. A failure after the
// first line cannot change the status any more; it is written as a last
// line {"error": <problem>} and logged.
func (a *auditAPI) stream(c *gin.Context, id uuid.UUID, cur audit.Cursor) {
	var (
		bw      *bufio.Writer
		enc     *json.Encoder
		n       int
		started bool
	)
	start := func() {
		started = true
		c.Header("Content-Type", ContentTypeNDJSON)
		c.Header("X-Content-Type-Options", "nosniff")
		c.Status(http.StatusOK)
		bw = bufio.NewWriterSize(c.Writer, 32<<10)
		enc = json.NewEncoder(bw)
		enc.SetEscapeHTML(false)
	}
	flush := func() error {
		if err := bw.Flush(); err != nil {
			return err
		}
		c.Writer.Flush()
		return nil
	}
	err := a.log.History(c.Request.Context(), id, cur, func(e audit.Event, _ audit.Cursor) error {
		if !started {
			start()
		}
		if err := enc.Encode(e); err != nil {
			return err
		}
		if n++; n%a.flushEvery == 0 {
			return flush()
		}
		return nil
	})
	switch {
	case err != nil && !started:
		a.fail(c, err)
		return
	case err != nil:
		p := httpx.ProblemOf(err)
		a.logger.ErrorContext(c.Request.Context(), "audit history stream failed", "path", c.Request.URL.Path, "events_written", n, "err", err)
		_ = enc.Encode(map[string]any{"error": p})
	case !started:
		start()
	}
	_ = flush()
}

func (a *auditAPI) state(c *gin.Context) {
	id, ok := a.customerID(c)
	if !ok {
		return
	}
	asOf := time.Now().UTC()
	var bad []domain.FieldError
	raw, set := once(c, "asOf", &bad)
	if len(bad) > 0 {
		httpx.Invalid(c, "invalid query parameters", bad...)
		return
	}
	if set {
		t, err := audit.ParseTime(raw)
		if err != nil {
			httpx.Invalid(c, "invalid query parameters", domain.FieldError{Field: "asOf", Message: "must be an RFC 3339 time such as 2024-03-01T09:30:00Z (or a date such as 2024-03-01)"})
			return
		}
		asOf = t
	}
	st, err := a.log.StateAsOf(c.Request.Context(), id, asOf)
	if err != nil {
		a.fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, st)
}

func (a *auditAPI) verifyCustomer(c *gin.Context) {
	id, ok := a.customerID(c)
	if !ok {
		return
	}
	rep, err := a.log.VerifyCustomer(c.Request.Context(), id)
	if err != nil {
		a.fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, rep)
}

func (a *auditAPI) verifyStream(c *gin.Context) {
	stream := c.Param("stream")
	if strings.HasPrefix(stream, "$") || strings.HasPrefix(stream, audit.HistoryStreamPrefix) || stream == audit.CheckpointStream {
		httpx.Invalid(c, "system, link and checkpoint streams carry no hash chain", domain.FieldError{Field: "stream",
			Message: "must be an event stream of the CRM, such as customer-<id> (for a customer's link stream, verify the customer)"})
		return
	}
	rep, err := a.log.VerifyStream(c.Request.Context(), stream)
	if err != nil {
		a.fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, rep)
}
