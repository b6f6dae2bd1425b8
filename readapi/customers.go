package readapi

import (
	"context"
	"encoding/json"
	"hash/fnv"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"

	"github.com/crm-es/crm/domain"
	"github.com/crm-es/crm/internal/httpx"
	"github.com/crm-es/crm/projections"
	"github.com/crm-es/crm/projections/churn"
	rm "github.com/crm-es/crm/projections/readmodels"
)

var customerStatuses = []string{string(domain.CustomerStatusActive), string(domain.CustomerStatusAtRisk), string(domain.CustomerStatusLost)}

// customerHead is the part of a customer document the API checks.
type customerHead struct {
	Registered bool   `json:"registered"`
	OwnerID    string `json:"ownerId"`
	Position   uint64 `json:"position,string"`
	Name       string `json:"name"`
}

// customer decodes the customer document raw (nil = absent; decoded heads
// are remembered, see headMemo) and checks that r may see it.
func (r *request) customer(id string, raw *string) (customerHead, error) {
	if raw == nil {
		return customerHead{}, notFound("customer", id)
	}
	h, err := r.heads.decode(*raw)
	if err != nil {
		return h, err
	}
	if !h.Registered {
		return h, notFound("customer", id)
	}
	if r.scope == httpx.ScopeOwn && h.OwnerID != r.user {
		return h, forbidden("customer %s is not one of user %s's customers", id, r.user)
	}
	return h, nil
}

// searchWords splits q into the lowercase words the name index knows.
func searchWords(q string) []string {
	return strings.FieldsFunc(strings.ToLower(q), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

// nameMatches reports whether every word of q starts a word of name.
func nameMatches(name string, words []string) bool {
	nw := searchWords(name)
	for _, w := range words {
		if !slices.ContainsFunc(nw, func(n string) bool { return strings.HasPrefix(n, w) }) {
			return false
		}
	}
	return true
}

// GET /v1/customers?q=&level=&region=&owner=&status=
func (a *api) listCustomers(c *gin.Context) {
	r := a.begin(c)
	limit, cur := r.parseLimit(), r.parseCursor("customers")
	q := r.text("q", 200)
	words := searchWords(q)
	if q != "" && len(words) == 0 {
		r.bad("q", "must contain at least one letter or digit")
	}
	level := 0
	if v, _ := r.query("level"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 5 {
			r.bad("level", "must be an integer from 1 to 5")
		}
		level = n
	}
	region := r.text("region", 200)
	owner := r.text("owner", 200)
	status := r.enum("status", customerStatuses...)
	if r.invalid() {
		return
	}
	owner, ok := a.scopedOwner(r, owner, "their own customers")
	if !ok {
		return
	}
	sts := a.read(r, projections.ActiveRead{Name: pCustomers})
	if sts == nil {
		return
	}
	prefix := sts[0].Prefix
	var sets []string
	if level != 0 {
		sets = append(sets, prefix+rm.CustomerLevelKey(level))
	}
	if region != "" {
		sets = append(sets, prefix+rm.CustomerRegionKey(region))
	}
	if owner != "" {
		sets = append(sets, prefix+rm.CustomerOwnerKey(owner))
	}
	if status != "" {
		sets = append(sets, prefix+rm.CustomerStatusKey(status))
	}
	longWords := false
	for _, w := range words {
		rs := []rune(w)
		if len(rs) > rm.MaxSearchPrefix {
			longWords = true
			w = string(rs[:rm.MaxSearchPrefix])
		}
		sets = append(sets, prefix+rm.CustomerSearchKey(w))
	}
	ctx := c.Request.Context()
	keep := func(ctx context.Context, zs []redis.Z, docs []*string) ([]json.RawMessage, error) {
		ids := make([]string, len(zs))
		for i, z := range zs {
			m, _ := z.Member.(string)
			_, ids[i], _ = strings.Cut(m, "\x00")
		}
		ok := make([]bool, len(zs))
		for i := range ok {
			ok[i] = true
		}
		if len(sets) > 0 && len(zs) > 0 {
			members := make([]any, len(ids))
			for i, id := range ids {
				members[i] = id
			}
			pipe := a.rdb.Pipeline()
			cmds := make([]*redis.BoolSliceCmd, len(sets))
			for i, s := range sets {
				cmds[i] = pipe.SMIsMember(ctx, s, members...)
			}
			if _, err := pipe.Exec(ctx); err != nil {
				return nil, err
			}
			for _, cmd := range cmds {
				for i, in := range cmd.Val() {
					ok[i] = ok[i] && in
				}
			}
		}
		var keys []string
		var at []int
		for i, id := range ids {
			if ok[i] {
				keys = append(keys, prefix+rm.CustomerKey(id))
				at = append(at, i)
			}
		}
		out := make([]json.RawMessage, len(zs))
		if len(keys) == 0 {
			return out, nil
		}
		vals, err := a.rdb.MGet(ctx, keys...).Result()
		if err != nil {
			return nil, err
		}
		for j, v := range vals {
			s, isStr := v.(string)
			if !isStr {
				continue // removed meanwhile
			}
			if longWords {
				var h customerHead
				if json.Unmarshal([]byte(s), &h) != nil || !nameMatches(h.Name, words) {
					continue
				}
			}
			out[at[j]] = json.RawMessage(s)
		}
		return out, nil
	}
	items, next, err := page(ctx, zlist{rdb: a.rdb, key: prefix + rm.CustomerNameIndexKey, lex: true}, "customers", cur, limit, keep)
	if err != nil {
		a.fail(c, err)
		return
	}
	answer(c, listBody(items, next))
}

// scopedOwner is the owner filter of a list: for a ScopeOwn user always
// the user (asking for another owner is forbidden, answered here with ok
// false), else the owner asked for.
func (a *api) scopedOwner(r *request, owner, what string) (string, bool) {
	if r.scope != httpx.ScopeOwn {
		return owner, true
	}
	if owner != "" && owner != r.user {
		a.fail(r.c, forbidden("user %s may list only %s (owner=%s)", r.user, what, r.user))
		return "", false
	}
	return r.user, true
}

// etagMatches reports whether If-None-Match names etag (or is *).
func etagMatches(c *gin.Context, etag string) bool {
	inm := c.GetHeader("If-None-Match")
	if inm == "" {
		return false
	}
	for _, t := range strings.Split(inm, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}

// notModified answers 304 when If-None-Match matches etag; it always sets
// the ETag header.
func notModified(c *gin.Context, etag string) bool {
	c.Header("ETag", etag)
	if etagMatches(c, etag) {
		c.Header("Cache-Control", "no-cache")
		c.Status(http.StatusNotModified)
		return true
	}
	return false
}

// GET /v1/customers/{id}: the customer 360 (profile, contacts, KPIs, churn
// state and churn risk).
func (a *api) getCustomer(c *gin.Context) {
	r := a.begin(c)
	id := r.parseID()
	if r.invalid() {
		return
	}
	sts := a.read(r, a.churnReads(projections.ActiveRead{Name: pCustomers, Keys: []string{rm.CustomerKey(id)}},
		projections.ActiveRead{Keys: []string{churn.RiskKey(id)}})...)
	if sts == nil {
		return
	}
	h, err := r.customer(id, sts[0].Values[0])
	if err != nil {
		a.fail(c, err)
		return
	}
	riskJSON, riskTag := "null", ""
	if raw := sts[1].Values[0]; raw != nil {
		// The risk document changes whenever it is rescored.
		hr := fnv.New64a()
		hr.Write([]byte(*raw))
		riskJSON, riskTag = *raw, "."+strconv.FormatUint(hr.Sum64(), 36)
	}
	etag := `"` + sts[0].Gen + "." + strconv.FormatUint(h.Position, 10) + riskTag + `"`
	if notModified(c, etag) {
		return
	}
	doc := *sts[0].Values[0]
	b := make([]byte, 0, len(doc)+len(riskJSON)+16)
	b = append(b, strings.TrimSuffix(strings.TrimSpace(doc), "}")...)
	b = append(b, `,"churnRisk":`...)
	b = append(b, riskJSON...)
	b = append(b, '}')
	answer(c, b)
}

// timelineList names the timeline of customer id in its cursors (the
// kinds filter does not: it picks items of the same order).
func timelineList(id string) string { return "timeline:" + id }

// ordersList names the order list of customer id in its cursors.
func ordersList(id string) string { return "orders:" + id }

// kinds reads ?kinds=: comma-separated timeline kinds; a repeated kinds
// parameter adds its kinds (kinds=order&kinds=service is
// kinds=order,service). nil means every kind.
func (r *request) kinds() []string {
	var kinds []string
	for _, v := range r.c.QueryArray("kinds") {
		if v == "" {
			continue
		}
		for _, k := range strings.Split(v, ",") {
			k = strings.TrimSpace(k)
			if !slices.Contains(rm.TimelineKinds, k) {
				r.bad("kinds", "must be a comma-separated list of "+strings.Join(rm.TimelineKinds, ", ")+" (repeat kinds= to add more)")
				return nil
			}
			if !slices.Contains(kinds, k) {
				kinds = append(kinds, k)
			}
		}
	}
	return kinds
}

// GET /v1/customers/{id}/timeline?kinds= (repeatable: the union)
func (a *api) timeline(c *gin.Context) {
	r := a.begin(c)
	id := r.parseID()
	limit := r.parseLimit()
	var cur *cursor
	if id != "" {
		cur = r.parseCursor(timelineList(id))
	}
	kinds := r.kinds()
	if r.invalid() {
		return
	}
	// Timeline items are only ever added (never changed once a customer
	// has them), so the size of the customer's timeline versions every page.
	sts := a.read(r, projections.ActiveRead{Name: pCustomers, Keys: []string{rm.CustomerKey(id)}},
		projections.ActiveRead{Name: pTimeline, ZCards: []string{rm.TimelineKey(id, "")}})
	if sts == nil {
		return
	}
	if _, err := r.customer(id, sts[0].Values[0]); err != nil {
		a.fail(c, err)
		return
	}
	ctx := c.Request.Context()
	prefix := sts[1].Prefix
	all := prefix + rm.TimelineKey(id, "")
	n := sts[1].Cards[0]
	rawCursor, _ := r.query("cursor")
	query := strings.Join(kinds, ",") + "|" + rawCursor + "|" + strconv.Itoa(limit)
	hq := fnv.New64a()
	hq.Write([]byte(query))
	version := sts[1].Gen + "." + strconv.FormatInt(n, 10)
	etag := `"` + version + "." + strconv.FormatUint(hq.Sum64(), 36) + `"`
	if notModified(c, etag) {
		return
	}
	// The page is kept under the same version as the ETag: the generation
	// and the number of items, read before the items.
	cacheKey := "timeline|" + id + "|" + query
	if body, ok := a.pages.get(cacheKey, version); ok {
		answer(c, body)
		return
	}
	key := all
	if len(kinds) == 1 {
		key = prefix + rm.TimelineKey(id, kinds[0])
	}
	keep := func(ctx context.Context, zs []redis.Z, docs []*string) ([]json.RawMessage, error) {
		out := make([]json.RawMessage, len(zs))
		for i, d := range docs {
			if d == nil {
				continue
			}
			s := *d
			if len(kinds) > 1 {
				var k struct {
					Kind string `json:"kind"`
				}
				if json.Unmarshal([]byte(s), &k) != nil || !slices.Contains(kinds, k.Kind) {
					continue
				}
			}
			out[i] = json.RawMessage(s)
		}
		return out, nil
	}
	items, next, err := page(ctx, zlist{rdb: a.rdb, key: key, desc: true, withDocs: true, docPrefix: prefix + "item:"}, timelineList(id), cur, limit, keep)
	if err != nil {
		a.fail(c, err)
		return
	}
	body := listBody(items, next)
	a.pages.put(cacheKey, version, body)
	answer(c, body)
}

// mget GETs the document key(member) of each of zs.
func (a *api) mget(ctx context.Context, zs []redis.Z, key func(member string) string) ([]*string, error) {
	out := make([]*string, len(zs))
	if len(zs) == 0 {
		return out, nil
	}
	keys := make([]string, len(zs))
	for i, z := range zs {
		m, _ := z.Member.(string)
		keys[i] = key(m)
	}
	vals, err := a.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, err
	}
	for i, v := range vals {
		if s, ok := v.(string); ok {
			out[i] = &s
		}
	}
	return out, nil
}

// docs returns a keep function that loads the documents prefix+key(member)
// and keeps those filter accepts (nil filter = all).
func (a *api) docs(prefix string, key func(string) string, filter func(raw string) bool) keepFunc {
	return func(ctx context.Context, zs []redis.Z, docs []*string) ([]json.RawMessage, error) {
		out := make([]json.RawMessage, len(zs))
		if docs == nil {
			var err error
			if docs, err = a.mget(ctx, zs, func(m string) string { return prefix + key(m) }); err != nil {
				return nil, err
			}
		}
		for i, d := range docs {
			if d != nil && (filter == nil || filter(*d)) {
				out[i] = json.RawMessage(*d)
			}
		}
		return out, nil
	}
}

// GET /v1/customers/{id}/orders: newest first.
func (a *api) customerOrders(c *gin.Context) {
	r := a.begin(c)
	id := r.parseID()
	limit := r.parseLimit()
	var cur *cursor
	if id != "" {
		cur = r.parseCursor(ordersList(id))
	}
	if r.invalid() {
		return
	}
	sts := a.read(r, projections.ActiveRead{Name: pCustomers, Keys: []string{rm.CustomerKey(id)}}, projections.ActiveRead{Name: pOrders})
	if sts == nil {
		return
	}
	if _, err := r.customer(id, sts[0].Values[0]); err != nil {
		a.fail(c, err)
		return
	}
	prefix := sts[1].Prefix
	items, next, err := page(c.Request.Context(), zlist{rdb: a.rdb, key: prefix + rm.OrderCustomerKey(id), desc: true}, ordersList(id), cur, limit,
		a.docs(prefix, rm.OrderKey, nil))
	if err != nil {
		a.fail(c, err)
		return
	}
	answer(c, listBody(items, next))
}
