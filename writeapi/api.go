package writeapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/crm-es/crm/commands"
	"github.com/crm-es/crm/domain"
	"github.com/crm-es/crm/internal/httpx"
	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
)

// DefaultMaxBodyBytes is the largest accepted request body (1 MiB).
const DefaultMaxBodyBytes = 1 << 20

// MaxIdempotencyKeyLength bounds the Idempotency-Key header.
const MaxIdempotencyKeyLength = 200

// Config configures the command API.
type Config struct {
	// Commands runs the commands (required).
	Commands *commands.Handlers
	// Matrix is the role matrix (nil = httpx.DefaultMatrix()).
	Matrix httpx.Matrix
	// Logger receives errors (nil = discard).
	Logger *slog.Logger
	// MaxBodyBytes bounds request bodies (0 = DefaultMaxBodyBytes); larger
	// bodies answer 413.
	MaxBodyBytes int64
}

type api struct {
	cmd     *commands.Handlers
	matrix  httpx.Matrix
	log     *slog.Logger
	maxBody int64
}

// Register mounts the command routes on g, which must already authenticate
// (httpx.Authenticate) and be rooted at /v1.
func Register(g gin.IRoutes, cfg Config) {
	a := &api{cmd: cfg.Commands, matrix: cfg.Matrix, log: cfg.Logger, maxBody: cfg.MaxBodyBytes}
	if a.matrix == nil {
		a.matrix = httpx.DefaultMatrix()
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.maxBody <= 0 {
		a.maxBody = DefaultMaxBodyBytes
	}
	for _, rt := range a.routes() {
		g.Handle(rt.method, rt.path, httpx.Authorize(a.matrix, rt.action), a.handler(rt))
	}
}

// route is one command endpoint.
type route struct {
	method string
	path   string
	action httpx.Action
	// status is the success status: 201 for creates, 200 otherwise.
	status int
	run    func(c *gin.Context, opts commands.Options) (commands.Result, error)
}

// Route describes an endpoint for documentation and tests.
type Route struct {
	Method, Path string
	Action       httpx.Action
	Status       int
}

// Routes lists the command endpoints (paths relative to /v1).
func Routes() []Route {
	var out []Route
	for _, r := range (&api{}).routes() {
		out = append(out, Route{Method: r.method, Path: r.path, Action: r.action, Status: r.status})
	}
	return out
}

// errTooLarge marks a body over the limit.
var errTooLarge = errors.New("request body too large")

// handler runs a route: headers → options → command → reply.
func (a *api) handler(rt route) gin.HandlerFunc {
	return func(c *gin.Context) {
		opts, fields := options(c)
		if len(fields) > 0 {
			httpx.Invalid(c, "invalid request headers", fields...)
			return
		}
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, a.maxBody)
		res, err := rt.run(c, opts)
		if err != nil {
			a.fail(c, err)
			return
		}
		pos := strconv.FormatUint(res.Position, 10)
		c.Header("X-Event-Position", pos)
		c.Header("ETag", strconv.Quote(strconv.FormatInt(res.Revision, 10)))
		c.Header("Cache-Control", "no-store")
		if res.Replayed {
			c.Header("Idempotent-Replayed", "true")
		}
		c.JSON(rt.status, res)
	}
}

// fail answers err as a problem.
func (a *api) fail(c *gin.Context, err error) {
	var pe *commands.PreconditionError
	switch {
	case errors.Is(err, errTooLarge):
		httpx.TooLarge(c, a.maxBody)
	case errors.Is(err, commands.ErrTooLarge):
		httpx.Abort(c, httpx.New(http.StatusRequestEntityTooLarge, "the command's events exceed the event store's size limit"))
	case errors.As(err, &pe):
		httpx.PreconditionFailed(c, fmt.Sprintf("%s is at revision %d, not %d", pe.Stream, pe.Current, pe.Expected), pe.Current)
	default:
		httpx.AbortError(c, a.log, err)
	}
}

// options reads the actor and the command headers.
func options(c *gin.Context) (commands.Options, []domain.FieldError) {
	var (
		opts   commands.Options
		fields []domain.FieldError
	)
	p, _ := httpx.PrincipalFrom(c.Request.Context())
	opts.Actor = commands.Actor{UserID: p.UserID, Roles: p.RoleNames(), OwnCustomersOnly: httpx.ScopeFrom(c) == httpx.ScopeOwn}
	if vs := c.Request.Header.Values("Idempotency-Key"); len(vs) > 0 {
		k := vs[0]
		switch {
		case len(vs) > 1:
			fields = append(fields, domain.FieldError{Field: "Idempotency-Key", Message: "give the header once"})
		case k == "" || len(k) > MaxIdempotencyKeyLength || !printableASCII(k):
			fields = append(fields, domain.FieldError{Field: "Idempotency-Key", Message: fmt.Sprintf("must be 1 to %d printable ASCII characters", MaxIdempotencyKeyLength)})
		default:
			opts.IdempotencyKey = k
		}
	}
	if v := c.GetHeader("If-Match"); v != "" {
		rev, ok := parseIfMatch(v)
		if !ok {
			fields = append(fields, domain.FieldError{Field: "If-Match", Message: `must be a stream revision in quotes, e.g. "3" ("-1": the stream must not exist)`})
		} else {
			opts.IfMatch = &rev
		}
	}
	if v := c.GetHeader("X-Correlation-ID"); v != "" {
		if len(v) > 200 || !printableASCII(v) {
			fields = append(fields, domain.FieldError{Field: "X-Correlation-ID", Message: "must be 1 to 200 printable ASCII characters"})
		} else {
			opts.CorrelationID = v
		}
	}
	return opts, fields
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// parseIfMatch parses `"<revision>"` (also W/"<revision>" and a bare
// number) into a revision ≥ -1.
func parseIfMatch(v string) (int64, bool) {
	v = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), "W/"))
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < -1 || (len(v) > 1 && v[0] == '0') || strings.HasPrefix(v, "+") {
		return 0, false
	}
	return n, true
}

// decode reads the JSON body strictly into dst: one JSON object, no
// unknown fields, no trailing data. An empty body is an empty object. Type
// errors name the field by its body name.
func decode(c *gin.Context, dst any) error {
	raw, err := io.ReadAll(c.Request.Body)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return errTooLarge
	}
	if err != nil {
		return domain.Wrap(domain.KindInvalid, err, "cannot read the request body")
	}
	return decodeBytes(raw, dst)
}

func decodeBytes(raw []byte, dst any) error {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 {
		trimmed = []byte("{}")
	}
	if trimmed[0] != '{' {
		return invalidBody("the body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if err == nil {
		if _, terr := dec.Token(); !errors.Is(terr, io.EOF) {
			return invalidBody("unexpected data after the JSON object")
		}
		return nil
	}
	var (
		te *json.UnmarshalTypeError
		se *json.SyntaxError
	)
	switch {
	case errors.As(err, &te):
		field := bodyName(te.Field)
		if field == "" {
			return invalidBody("the body must be a JSON object")
		}
		return domain.Invalid(domain.FieldError{Field: field, Message: "must be " + jsonKind(te.Type.Kind().String(), te.Type.String())})
	case errors.As(err, &se):
		return invalidBody(fmt.Sprintf("malformed JSON at byte %d: %v", se.Offset, se))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		return domain.Invalid(domain.FieldError{Field: name, Message: "unknown field"})
	case errors.Is(err, io.ErrUnexpectedEOF):
		return invalidBody("malformed JSON: unexpected end of the body")
	}
	return invalidBody("malformed JSON: " + err.Error())
}

// bodyName turns encoding/json's field path into the body name: the names
// of embedded Go structs (upper case) are dropped.
func bodyName(path string) string {
	parts := strings.Split(path, ".")
	out := parts[:0]
	for _, p := range parts {
		if p != "" && !(p[0] >= 'A' && p[0] <= 'Z') {
			out = append(out, p)
		}
	}
	return strings.Join(out, ".")
}

func invalidBody(msg string) error {
	return &domain.Error{Kind: domain.KindInvalid, Message: msg}
}

func jsonKind(kind, goType string) string {
	switch kind {
	case "string":
		return "a string"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "an integer"
	case "float32", "float64":
		return "a number"
	case "bool":
		return "true or false"
	case "slice", "array":
		return "an array"
	case "struct", "map":
		return "an object"
	}
	return "a " + goType
}

// pathID parses a path parameter as a UUID; a malformed one is "not found".
func pathID(c *gin.Context, name, what string) (uuid.UUID, error) {
	s := c.Param(name)
	id, err := uuid.Parse(s)
	if err != nil || len(s) != 36 {
		return uuid.Nil, domain.Errorf(domain.KindNotFound, "%s %q not found", what, s)
	}
	return id, nil
}
