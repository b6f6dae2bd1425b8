package readapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"

	"github.com/crm-es/crm/domain"
	"github.com/crm-es/crm/eventstore"
	"github.com/crm-es/crm/internal/httpx"
	"github.com/crm-es/crm/projections"
)

// Read-your-writes defaults (DESIGN §8).
const (
	DefaultWait = 2 * time.Second
	MaxWait     = 10 * time.Second
	// DefaultLimit and MaxLimit bound list pages.
	DefaultLimit = 50
	MaxLimit     = 200
)

// Names of the projections the endpoints read.
const (
	pCustomers     = "customers"
	pTimeline      = "timeline"
	pOpportunities = "opportunities"
	pService       = "service"
	pOrders        = "orders"
	pReports       = "reports"
)

// Config configures the query API.
type Config struct {
	// Redis holds the read models (required).
	Redis redis.UniversalClient
	// Store is the event store (required): its $all head and the events
	// between a projection's checkpoint and a requested X-Min-Position
	// (a projection that handles none of them has passed that position).
	Store eventstore.AllReader
	// Projections are the projections whose read models are served (by
	// name; Handles is used by read-your-writes and the status endpoint).
	// Endpoints over a projection not listed answer 503.
	Projections []projections.Projection
	// Matrix is the query role matrix (nil = httpx.DefaultQueryMatrix()).
	Matrix httpx.QueryMatrix
	// Logger receives errors (nil = discard).
	Logger *slog.Logger
	// PollInterval is how often a read-your-writes wait looks again
	// (default 5 ms).
	PollInterval time.Duration
	// PageCacheBytes bounds the in-process cache of rendered timeline and
	// churn-risk pages, each kept under the version of the data it shows
	// (0 = DefaultPageCacheBytes, negative = no cache, and no memo of
	// decoded customer documents either).
	PageCacheBytes int
}

type api struct {
	rdb    redis.UniversalClient
	store  eventstore.AllReader
	known  map[string]projections.Projection
	names  []string
	matrix httpx.QueryMatrix
	log    *slog.Logger
	poll   time.Duration
	pages  *pageCache
	heads  *headMemo
}

// Register mounts every query endpoint of DESIGN §8 on g, which must
// authenticate (httpx.Authenticate) before these handlers run.
func Register(g gin.IRoutes, cfg Config) error {
	if cfg.Redis == nil || cfg.Store == nil {
		return errors.New("readapi: Config needs Redis and Store")
	}
	a := &api{rdb: cfg.Redis, store: cfg.Store, matrix: cfg.Matrix, log: cfg.Logger, poll: cfg.PollInterval,
		known: map[string]projections.Projection{}}
	if a.matrix == nil {
		a.matrix = httpx.DefaultQueryMatrix()
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.poll <= 0 {
		a.poll = 5 * time.Millisecond
	}
	cacheBytes := cfg.PageCacheBytes
	if cacheBytes == 0 {
		cacheBytes = DefaultPageCacheBytes
	}
	a.pages = newPageCache(cacheBytes)
	a.heads = newHeadMemo(DefaultHeadMemoBytes)
	if cfg.PageCacheBytes < 0 {
		a.heads = newHeadMemo(0)
	}
	for _, p := range cfg.Projections {
		a.known[p.Name()] = p
		a.names = append(a.names, p.Name())
	}
	q := func(query httpx.Query) gin.HandlerFunc { return httpx.AuthorizeQuery(a.matrix, query) }

	g.GET("/customers", q(httpx.QueryCustomers), a.listCustomers)
	g.GET("/customers/:id", q(httpx.QueryCustomers), a.getCustomer)
	g.GET("/customers/:id/timeline", q(httpx.QueryCustomers), a.timeline)
	g.GET("/customers/:id/orders", q(httpx.QueryCustomers), a.customerOrders)
	g.GET("/opportunities", q(httpx.QueryOpportunities), a.listOpportunities)
	g.GET("/opportunities/:id", q(httpx.QueryOpportunities), a.getOpportunity)
	g.GET("/service-requests", q(httpx.QueryServiceRequests), a.listServiceRequests)
	g.GET("/service-requests/:id", q(httpx.QueryServiceRequests), a.getServiceRequest)
	g.GET("/reports/contribution", q(httpx.QueryReports), a.contribution)
	g.GET("/reports/composition", q(httpx.QueryReports), a.composition)
	g.GET("/reports/service", q(httpx.QueryReports), a.serviceReport)
	g.GET("/reports/churn", q(httpx.QueryReports), a.churnReport)
	g.GET("/dashboards/pipeline", q(httpx.QueryReports), a.pipeline)
	g.GET("/dashboards/overview", q(httpx.QueryReports), a.overview)
	g.GET("/churn/risks", q(httpx.QueryChurnRisks), a.churnRisks)
	g.GET("/projections", q(httpx.QueryProjections), a.projectionStatus)
	g.POST("/projections/:name/rebuild", q(httpx.QueryRebuildProjections), a.rebuild)
	return nil
}

// request is one query's parsed common parameters.
type request struct {
	c      *gin.Context
	user   string
	scope  httpx.Scope
	minPos uint64
	wait   time.Duration
	errs   []domain.FieldError
	heads  *headMemo
}

func (a *api) begin(c *gin.Context) *request {
	p, _ := httpx.PrincipalFrom(c.Request.Context())
	r := &request{c: c, user: p.UserID, scope: httpx.ScopeFrom(c), wait: DefaultWait, heads: a.heads}
	r.parseConsistency()
	return r
}

func (r *request) bad(field, msg string) {
	r.errs = append(r.errs, domain.FieldError{Field: field, Message: msg})
}

// invalid answers 400 listing every bad parameter, if any.
func (r *request) invalid() bool {
	if len(r.errs) == 0 {
		return false
	}
	httpx.Invalid(r.c, "invalid query parameters", r.errs...)
	return true
}

// parseConsistency reads X-Min-Position (or ?minPosition=) and
// X-Wait-Timeout.
func (r *request) parseConsistency() {
	field, v := "X-Min-Position", r.c.GetHeader("X-Min-Position")
	if q, ok := r.query("minPosition"); ok {
		if v != "" && q != v {
			r.bad("minPosition", "differs from the X-Min-Position header; send one of them")
		}
		field, v = "minPosition", q
	}
	if v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			r.bad(field, "must be a $all commit position: a decimal integer (the position of a command reply)")
		} else {
			r.minPos = n
		}
	}
	if w := r.c.GetHeader("X-Wait-Timeout"); w != "" {
		d, err := time.ParseDuration(w)
		switch {
		case err != nil:
			r.bad("X-Wait-Timeout", "must be a Go duration such as 1500ms or 2s")
		case d < 0 || d > MaxWait:
			r.bad("X-Wait-Timeout", "must be between 0s and "+MaxWait.String())
		default:
			r.wait = d
		}
	}
}

// fail answers err as a problem (see httpx.ProblemOf).
func (a *api) fail(c *gin.Context, err error) {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		err = domain.Wrap(domain.KindUnavailable, err, "the read store did not answer in time")
	} else if domain.KindOf(err) == domain.KindInternal {
		var de *domain.Error
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &de):
		case errors.As(err, &syn), errors.As(err, &typ):
			// A read-model document we cannot read: a bug, not an outage.
			err = domain.Wrap(domain.KindInternal, err, "internal error")
		default: // Redis or the event store did not answer
			err = domain.Wrap(domain.KindUnavailable, err, "the read store is unavailable")
		}
	}
	httpx.AbortError(c, a.log, err)
}

func notFound(what, id string) error {
	return domain.Errorf(domain.KindNotFound, "%s %s not found", what, id)
}

func forbidden(format string, args ...any) error {
	return domain.Errorf(domain.KindForbidden, format, args...)
}

// read resolves the served generation of each projection in reads and
// GETs their keys, waiting for read-your-writes first: until every
// projection has passed r.minPos (up to r.wait; then 503 naming the
// lagging projection). It sets X-Projection-Position. On failure it has
// answered and returns nil.
func (a *api) read(r *request, reads ...projections.ActiveRead) []projections.ActiveState {
	ctx := r.c.Request.Context()
	for _, rd := range reads {
		if _, ok := a.known[rd.Name]; !ok && rd.Name != "" {
			a.fail(r.c, domain.Errorf(domain.KindUnavailable, "projection %s is not served by this process", rd.Name))
			return nil
		}
	}
	deadline := time.Now().Add(r.wait)
	delay := a.poll
	for {
		sts, err := projections.ReadActive(ctx, a.rdb, reads...)
		if err != nil {
			a.fail(r.c, err)
			return nil
		}
		pos, lag, err := a.positions(ctx, sts, r.minPos)
		if err != nil {
			a.fail(r.c, err)
			return nil
		}
		if lag == nil {
			r.c.Header("X-Projection-Position", strconv.FormatUint(pos, 10))
			return sts
		}
		left := time.Until(deadline)
		if left <= 0 {
			r.c.Header("X-Projection-Position", strconv.FormatUint(pos, 10))
			a.fail(r.c, lag)
			return nil
		}
		t := time.NewTimer(min(delay, left))
		select {
		case <-ctx.Done():
			t.Stop()
			a.fail(r.c, ctx.Err())
			return nil
		case <-t.C:
		}
		delay = min(2*delay, 50*time.Millisecond)
	}
}

// maxGapScan bounds the events read-your-writes inspects between a
// projection's checkpoint and the requested position.
const maxGapScan = 2048

// positions returns the position every projection of sts has passed (the
// least of them) and, when one has not passed minPos, an unavailable
// error naming it. A projection whose checkpoint is below minPos has still
// passed it when none of the events in between is of a type it handles
// (the runtime stores filtered-subscription checkpoints only now and then).
func (a *api) positions(ctx context.Context, sts []projections.ActiveState, minPos uint64) (least uint64, lag *domain.Error, err error) {
	first := true
	for _, st := range sts {
		if st.Name == "" {
			continue // absolute keys, outside the projections
		}
		if st.Gen == "" {
			return least, domain.Errorf(domain.KindUnavailable, "projection %s is still building its first generation", st.Name), nil
		}
		pos := st.Checkpoint.Commit
		if pos < minPos && lag == nil {
			ok, err := a.passed(ctx, a.known[st.Name], st.Checkpoint, minPos)
			if err != nil {
				return 0, nil, err
			}
			if ok {
				pos = minPos
			} else {
				lag = domain.Errorf(domain.KindUnavailable,
					"projection %s has not reached position %d yet (it is at %d); retry later or raise X-Wait-Timeout",
					st.Name, minPos, pos)
			}
		}
		if first || pos < least {
			least, first = pos, false
		}
	}
	return least, lag, nil
}

// passed reports whether p has nothing left to apply up to position
// minPos after checkpoint cp: minPos is within $all and no event in
// (cp, minPos] is of a type p handles.
func (a *api) passed(ctx context.Context, p projections.Projection, cp eventstore.Checkpoint, minPos uint64) (bool, error) {
	after := cp
	for scanned := 0; scanned < maxGapScan; {
		evs, err := a.store.ReadAll(ctx, after, 256)
		if err != nil {
			return false, domain.Wrap(domain.KindUnavailable, err, "the event store is unavailable")
		}
		for _, e := range evs {
			if e.Position > minPos {
				return true, nil
			}
			if !e.IsSystem() && p.Handles(e.Type) {
				return false, nil
			}
			if e.Position == minPos {
				return true, nil
			}
		}
		if len(evs) < 256 {
			return false, nil // minPos is beyond the head of $all
		}
		scanned += len(evs)
		after = evs[len(evs)-1].Checkpoint()
	}
	return false, nil
}

// writeJSON answers 200 with v as JSON.
func writeJSON(c *gin.Context, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		httpx.AbortError(c, nil, err)
		return
	}
	answer(c, b)
}

// answer answers 200 with the JSON body b, not to be cached without
// revalidation. It sets Content-Length, so a large body goes out in one
// piece instead of chunked.
func answer(c *gin.Context, b []byte) {
	c.Header("Cache-Control", "no-cache")
	c.Header("Content-Length", strconv.Itoa(len(b)))
	c.Data(http.StatusOK, "application/json; charset=utf-8", b)
}
