package readapi

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"

	"github.com/crm-es/crm/domain"
	"github.com/crm-es/crm/eventstore"
	"github.com/crm-es/crm/internal/httpx"
	"github.com/crm-es/crm/projections"
	rm "github.com/crm-es/crm/projections/readmodels"
)

var (
	opportunityStatuses = []string{string(domain.OpportunityStatusUnassigned), string(domain.OpportunityStatusAssigned),
		string(domain.OpportunityStatusWon), string(domain.OpportunityStatusLost)}
	serviceStatuses = []string{rm.ServiceOpen, string(domain.ServiceStatusCreated), string(domain.ServiceStatusAssigned),
		string(domain.ServiceStatusHandled), string(domain.ServiceStatusArchived)}
	serviceTypes = []string{domain.ServiceConsultation, domain.ServiceSuggestion, domain.ServiceComplaint}
)

// owned returns which of ids are customers owned by user (customers
// projection at prefix).
func (a *api) owned(ctx context.Context, prefix, user string, ids []string) ([]bool, error) {
	out := make([]bool, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	members := make([]any, len(ids))
	for i, id := range ids {
		members[i] = id
	}
	in, err := a.rdb.SMIsMember(ctx, prefix+rm.CustomerOwnerKey(user), members...).Result()
	if err != nil {
		return nil, err
	}
	copy(out, in)
	return out, nil
}

// visibleDocs loads documents of type T for a page, keeps those match
// accepts and, for a ScopeOwn request, those whose customer the user owns
// or that involve the user (involves).
func visibleDocs[T any](a *api, r *request, prefix, customersPrefix string, key func(string) string,
	match func(*T) bool, customerOf func(*T) string, involves func(*T, string) bool) keepFunc {
	return func(ctx context.Context, zs []redis.Z, docs []*string) ([]json.RawMessage, error) {
		raws, err := a.docs(prefix, key, nil)(ctx, zs, docs)
		if err != nil {
			return nil, err
		}
		parsed := make([]*T, len(raws))
		var ids []string
		var idx []int
		for i, raw := range raws {
			if raw == nil {
				continue
			}
			d := new(T)
			if err := json.Unmarshal(raw, d); err != nil {
				return nil, err
			}
			if !match(d) {
				raws[i] = nil
				continue
			}
			parsed[i] = d
			if r.scope == httpx.ScopeOwn && !involves(d, r.user) {
				ids = append(ids, customerOf(d))
				idx = append(idx, i)
			}
		}
		if r.scope == httpx.ScopeOwn {
			own, err := a.owned(ctx, customersPrefix, r.user, ids)
			if err != nil {
				return nil, err
			}
			for j, i := range idx {
				if !own[j] || ids[j] == "" {
					raws[i] = nil
				}
			}
		}
		return raws, nil
	}
}

func oppCustomer(o *rm.Opportunity) string { return o.CustomerID }
func oppInvolves(o *rm.Opportunity, user string) bool {
	return o.AssigneeID == user || o.CreatedBy == user
}
func srCustomer(s *rm.ServiceRequest) string { return s.CustomerID }
func srInvolves(s *rm.ServiceRequest, user string) bool {
	return s.AssigneeID == user || s.CreatedBy == user
}

// GET /v1/opportunities?status=&assignee=: newest first.
func (a *api) listOpportunities(c *gin.Context) {
	r := a.begin(c)
	limit, cur := r.parseLimit(), r.parseCursor("opportunities")
	status := r.enum("status", opportunityStatuses...)
	assignee := r.text("assignee", 200)
	if r.invalid() {
		return
	}
	sts := a.read(r, projections.ActiveRead{Name: pOpportunities}, projections.ActiveRead{Name: pCustomers})
	if sts == nil {
		return
	}
	prefix := sts[0].Prefix
	key := rm.OpportunityAllKey
	switch {
	case status != "":
		key = rm.OpportunityStatusKey(status)
	case assignee != "":
		key = rm.OpportunityAssigneeKey(assignee)
	}
	match := func(o *rm.Opportunity) bool {
		return (status == "" || o.Status == status) && (assignee == "" || o.AssigneeID == assignee)
	}
	keep := visibleDocs(a, r, prefix, sts[1].Prefix, rm.OpportunityKey, match, oppCustomer, oppInvolves)
	items, next, err := page(c.Request.Context(), zlist{rdb: a.rdb, key: prefix + key, desc: true}, "opportunities", cur, limit, keep)
	if err != nil {
		a.fail(c, err)
		return
	}
	answer(c, listBody(items, next))
}

// single answers one document of a projection, checking own scope.
func single[T any](a *api, c *gin.Context, proj, what string, key func(string) string,
	customerOf func(*T) string, involves func(*T, string) bool) {
	r := a.begin(c)
	id := r.parseID()
	if r.invalid() {
		return
	}
	sts := a.read(r, projections.ActiveRead{Name: proj, Keys: []string{key(id)}}, projections.ActiveRead{Name: pCustomers})
	if sts == nil {
		return
	}
	raw := sts[0].Values[0]
	if raw == nil {
		a.fail(c, notFound(what, id))
		return
	}
	if r.scope == httpx.ScopeOwn {
		d := new(T)
		if err := json.Unmarshal([]byte(*raw), d); err != nil {
			a.fail(c, err)
			return
		}
		if !involves(d, r.user) {
			own, err := a.owned(c.Request.Context(), sts[1].Prefix, r.user, []string{customerOf(d)})
			if err != nil {
				a.fail(c, err)
				return
			}
			if !own[0] || customerOf(d) == "" {
				a.fail(c, forbidden("%s %s is not one of user %s's", what, id, r.user))
				return
			}
		}
	}
	answer(c, []byte(*raw))
}

// GET /v1/opportunities/{id}
func (a *api) getOpportunity(c *gin.Context) {
	single(a, c, pOpportunities, "opportunity", rm.OpportunityKey, oppCustomer, oppInvolves)
}

// GET /v1/service-requests/{id}
func (a *api) getServiceRequest(c *gin.Context) {
	single(a, c, pService, "service request", rm.ServiceRequestKey, srCustomer, srInvolves)
}

// GET /v1/service-requests?status=&type=&assignee=: newest first.
func (a *api) listServiceRequests(c *gin.Context) {
	r := a.begin(c)
	// order=oldest serves the queue first come, first served; its cursors
	// are of another list than the newest-first ones.
	order := r.enum("order", "newest", "oldest")
	list := "service-requests"
	if order == "oldest" {
		list += ":oldest"
	}
	limit, cur := r.parseLimit(), r.parseCursor(list)
	status := r.enum("status", serviceStatuses...)
	typ := r.enum("type", serviceTypes...)
	assignee := r.text("assignee", 200)
	if r.invalid() {
		return
	}
	sts := a.read(r, projections.ActiveRead{Name: pService}, projections.ActiveRead{Name: pCustomers})
	if sts == nil {
		return
	}
	prefix := sts[0].Prefix
	key := rm.ServiceAllKey
	switch {
	case status != "":
		key = rm.ServiceStatusKey(status)
	case typ != "":
		key = rm.ServiceTypeKey(typ)
	case assignee != "":
		key = rm.ServiceAssigneeKey(assignee)
	}
	match := func(s *rm.ServiceRequest) bool {
		st := status == "" || s.Status == status || status == rm.ServiceOpen && s.Status != string(domain.ServiceStatusArchived)
		return st && (typ == "" || s.Type == typ) && (assignee == "" || s.AssigneeID == assignee)
	}
	keep := visibleDocs(a, r, prefix, sts[1].Prefix, rm.ServiceRequestKey, match, srCustomer, srInvolves)
	items, next, err := page(c.Request.Context(), zlist{rdb: a.rdb, key: prefix + key, desc: order != "oldest"}, list, cur, limit, keep)
	if err != nil {
		a.fail(c, err)
		return
	}
	answer(c, listBody(items, next))
}

var (
	yearRe     = regexp.MustCompile(`^[12][0-9]{3}$`)
	currencyRe = regexp.MustCompile(`^[A-Z]{3}$`)
)

// parseYear reads ?year= (four digits).
func (r *request) parseYear() string {
	v, _ := r.query("year")
	if v != "" && !yearRe.MatchString(v) {
		r.bad("year", "must be a year such as 2011")
		return ""
	}
	return v
}

// contributionList names the contribution ranking of year and currency
// in its cursors.
func contributionList(year, currency string) string {
	return "contribution:" + year + ":" + currency
}

// years returns the members of a set of years, sorted.
func (a *api) years(ctx context.Context, key string) ([]string, error) {
	ys, err := a.rdb.SMembers(ctx, key).Result()
	if err != nil {
		return nil, err
	}
	sort.Strings(ys)
	return ys, nil
}

// contributionItem is one customer's contribution with its name.
type contributionItem struct {
	rm.Contribution
	Name string `json:"name"`
}

// GET /v1/reports/contribution?year=&q=&currency=: customers ranked by
// net contribution in the year (highest first), in one currency (default:
// the year's first currency).
func (a *api) contribution(c *gin.Context) {
	r := a.begin(c)
	limit := r.parseLimit()
	year := r.parseYear()
	q := r.text("q", 200)
	words := searchWords(q)
	if q != "" && len(words) == 0 {
		r.bad("q", "must contain at least one letter or digit")
	}
	currency, _ := r.query("currency")
	if currency != "" && !currencyRe.MatchString(currency) {
		r.bad("currency", "must be an ISO 4217 code such as GBP")
	}
	r.query("cursor") // a repeat is refused now; the cursor is read once year and currency are known
	if r.invalid() {
		return
	}
	sts := a.read(r, projections.ActiveRead{Name: pOrders}, projections.ActiveRead{Name: pCustomers})
	if sts == nil {
		return
	}
	ctx := c.Request.Context()
	prefix, cprefix := sts[0].Prefix, sts[1].Prefix
	years, err := a.years(ctx, prefix+rm.ContributionYearsKey)
	if err != nil {
		a.fail(c, err)
		return
	}
	if year == "" && len(years) > 0 {
		year = years[len(years)-1]
	}
	total := rm.YearContribution{Year: year}
	if year != "" {
		s, err := a.rdb.Get(ctx, prefix+rm.ContributionYearKey(year)).Result()
		if err != nil && err != redis.Nil {
			a.fail(c, err)
			return
		}
		if s != "" {
			if err := json.Unmarshal([]byte(s), &total); err != nil {
				a.fail(c, err)
				return
			}
		}
	}
	if currency == "" && len(total.Net) > 0 {
		currency = total.Net[0].Currency
	}
	// The ranking is of one year and currency (the defaults resolved): a
	// cursor of another year's or currency's ranking is refused.
	list := contributionList(year, currency)
	cur := r.parseCursor(list)
	if r.invalid() {
		return
	}
	keep := func(ctx context.Context, zs []redis.Z, docs []*string) ([]json.RawMessage, error) {
		out := make([]json.RawMessage, len(zs))
		if len(zs) == 0 {
			return out, nil
		}
		keys := make([]string, 0, 2*len(zs))
		for _, z := range zs {
			m, _ := z.Member.(string)
			keys = append(keys, prefix+rm.ContributionKey(year, m), cprefix+rm.CustomerKey(m))
		}
		vals, err := a.rdb.MGet(ctx, keys...).Result()
		if err != nil {
			return nil, err
		}
		for i := range zs {
			s, ok := vals[2*i].(string)
			if !ok {
				continue
			}
			var it contributionItem
			if err := json.Unmarshal([]byte(s), &it.Contribution); err != nil {
				return nil, err
			}
			if cs, ok := vals[2*i+1].(string); ok {
				var h customerHead
				if err := json.Unmarshal([]byte(cs), &h); err == nil {
					it.Name = h.Name
				}
			}
			if len(words) > 0 && !nameMatches(it.Name, words) {
				continue
			}
			b, err := json.Marshal(it)
			if err != nil {
				return nil, err
			}
			out[i] = b
		}
		return out, nil
	}
	var items []json.RawMessage
	var next *cursor
	if year != "" && currency != "" {
		items, next, err = page(ctx, zlist{rdb: a.rdb, key: prefix + rm.ContributionRankingKey(year, currency), desc: true},
			list, cur, limit, keep)
		if err != nil {
			a.fail(c, err)
			return
		}
	}
	yb, _ := json.Marshal(years)
	tb, _ := json.Marshal(total)
	answer(c, listBody(items, next,
		"year", strconv.Quote(year), "currency", strconv.Quote(currency), "years", string(yb), "total", string(tb)))
}

// doc answers one document of a projection (empty when absent: v is
// written as it is).
func (a *api) doc(c *gin.Context, proj, key string, v any, also func(ctx context.Context, sts []projections.ActiveState) (any, bool)) {
	r := a.begin(c)
	if r.invalid() {
		return
	}
	sts := a.read(r, projections.ActiveRead{Name: proj, Keys: []string{key}})
	if sts == nil {
		return
	}
	if raw := sts[0].Values[0]; raw != nil {
		if err := json.Unmarshal([]byte(*raw), v); err != nil {
			a.fail(c, err)
			return
		}
	}
	out := v
	if also != nil {
		var ok bool
		if out, ok = also(c.Request.Context(), sts); !ok {
			return
		}
	}
	writeJSON(c, out)
}

// GET /v1/reports/composition?by=level|credit|satisfaction|region
func (a *api) composition(c *gin.Context) {
	r := a.begin(c)
	by := r.enum("by", "level", "credit", "satisfaction", "region", "status")
	if r.invalid() {
		return
	}
	sts := a.read(r, projections.ActiveRead{Name: pReports, Keys: []string{rm.CompositionKey}})
	if sts == nil {
		return
	}
	var comp rm.Composition
	if raw := sts[0].Values[0]; raw != nil {
		if err := json.Unmarshal([]byte(*raw), &comp); err != nil {
			a.fail(c, err)
			return
		}
	}
	if by == "" {
		writeJSON(c, comp)
		return
	}
	counts := map[string]map[string]int{"level": comp.ByLevel, "credit": comp.ByCredit, "satisfaction": comp.BySatisfaction,
		"region": comp.ByRegion, "status": comp.ByStatus}[by]
	type bucket struct {
		Key   string  `json:"key"`
		Count int     `json:"count"`
		Share float64 `json:"share"`
	}
	buckets := make([]bucket, 0, len(counts))
	for k, n := range counts {
		b := bucket{Key: k, Count: n}
		if comp.Total > 0 {
			b.Share = float64(n) / float64(comp.Total)
		}
		buckets = append(buckets, b)
	}
	sort.Slice(buckets, func(i, j int) bool {
		if buckets[i].Count != buckets[j].Count {
			return buckets[i].Count > buckets[j].Count
		}
		return buckets[i].Key < buckets[j].Key
	})
	writeJSON(c, map[string]any{"by": by, "total": comp.Total, "buckets": buckets})
}

// GET /v1/reports/service?year=: the service analysis of a year (default
// the latest).
func (a *api) serviceReport(c *gin.Context) {
	r := a.begin(c)
	year := r.parseYear()
	if r.invalid() {
		return
	}
	sts := a.read(r, projections.ActiveRead{Name: pService})
	if sts == nil {
		return
	}
	ctx := c.Request.Context()
	prefix := sts[0].Prefix
	years, err := a.years(ctx, prefix+rm.ServiceYearsKey)
	if err != nil {
		a.fail(c, err)
		return
	}
	if year == "" && len(years) > 0 {
		year = years[len(years)-1]
	}
	rep := rm.ServiceReport{Year: year, ByType: map[string]int{}, ByStatus: map[string]int{}, ByChannel: map[string]int{}}
	if year != "" {
		s, err := a.rdb.Get(ctx, prefix+rm.ServiceReportKey(year)).Result()
		if err != nil && err != redis.Nil {
			a.fail(c, err)
			return
		}
		if s != "" {
			if err := json.Unmarshal([]byte(s), &rep); err != nil {
				a.fail(c, err)
				return
			}
		}
	}
	writeJSON(c, struct {
		rm.ServiceReport
		Years []string `json:"years"`
	}{rep, nonNilStrings(years)})
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// GET /v1/dashboards/pipeline
func (a *api) pipeline(c *gin.Context) {
	pl := rm.Pipeline{ByStatus: map[string]rm.Bucket{}, ByAssignee: map[string]map[string]rm.Bucket{}}
	a.doc(c, pOpportunities, rm.PipelineKey, &pl, nil)
}

// GET /v1/dashboards/overview
func (a *api) overview(c *gin.Context) {
	ov := rm.Overview{CustomersByStatus: map[string]int{}, OrdersByMonth: map[string]rm.OrderMonth{}, InteractionsByMonth: map[string]int{}}
	a.doc(c, pReports, rm.OverviewKey, &ov, nil)
}

// projectionStatus is one projection's status as the API shows it.
type projectionStatus struct {
	projections.Status
}

// GET /v1/projections
func (a *api) projectionStatus(c *gin.Context) {
	r := a.begin(c)
	if r.invalid() {
		return
	}
	ctx := c.Request.Context()
	head, err := a.store.Head(ctx)
	if err != nil {
		a.fail(c, domain.Wrap(domain.KindUnavailable, err, "the event store is unavailable"))
		return
	}
	out := make([]projections.Status, len(a.names))
	var lags []projections.LagItem
	for i, name := range a.names {
		st, err := projections.StoredStatus(ctx, a.rdb, name)
		if err != nil {
			a.fail(c, err)
			return
		}
		st.Version, st.Head = a.known[name].Version(), head.Commit
		out[i] = st
		if st.Head > st.Checkpoint && st.Active != "" {
			lags = append(lags, projections.LagItem{Projection: a.known[name], Checkpoint: eventstore.CheckpointAt(st.Checkpoint), Status: &out[i]})
		}
	}
	// One scan of $all counts every lagging projection's lag.
	if err := projections.CountLags(ctx, a.store, lags); err != nil {
		a.fail(c, domain.Wrap(domain.KindUnavailable, err, "the event store is unavailable"))
		return
	}
	c.Header("X-Projection-Position", strconv.FormatUint(minCheckpoint(out), 10))
	writeJSON(c, map[string]any{"projections": out, "head": strconv.FormatUint(head.Commit, 10)})
}

func minCheckpoint(sts []projections.Status) uint64 {
	var m uint64
	for i, s := range sts {
		if i == 0 || s.Checkpoint < m {
			m = s.Checkpoint
		}
	}
	return m
}

// POST /v1/projections/{name}/rebuild: requests a blue/green rebuild; the
// served generation keeps answering until the new one has caught up.
func (a *api) rebuild(c *gin.Context) {
	name := c.Param("name")
	if _, ok := a.known[name]; !ok {
		names := slices.Clone(a.names)
		sort.Strings(names)
		a.fail(c, domain.Errorf(domain.KindNotFound, "no projection %q (projections: %v)", name, names))
		return
	}
	if err := projections.RequestRebuild(c.Request.Context(), a.rdb, name); err != nil {
		a.fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusAccepted, gin.H{"name": name, "rebuildRequested": true})
}
