package readapi

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/crm-es/crm/internal/httpx"
	"github.com/crm-es/crm/projections"
	"github.com/crm-es/crm/projections/churn"
)

// churnReads are the projections the churn endpoints wait for: the churn
// signals projection when this process serves it (the risk documents are
// scored from it, outside the generations), plus extra.
func (a *api) churnReads(extra ...projections.ActiveRead) []projections.ActiveRead {
	if _, ok := a.known[churn.ProjectionName]; ok {
		extra = append(extra, projections.ActiveRead{Name: churn.ProjectionName})
	}
	return extra
}

// GET /v1/churn/risks?band=&owner=: ranked, highest risk first, with the
// reasons.
func (a *api) churnRisks(c *gin.Context) {
	r := a.begin(c)
	limit := r.parseLimit()
	cursor := c.Query("cursor")
	band := r.enum("band", string(churn.BandLow), string(churn.BandMedium), string(churn.BandHigh))
	owner := r.text("owner", 200)
	if cursor != "" {
		if _, err := churn.ParseCursor(cursor); err != nil {
			r.bad("cursor", "must be a nextCursor returned by a previous page")
		}
	}
	if r.invalid() {
		return
	}
	if r.scope == httpx.ScopeOwn {
		if owner != "" && owner != r.user {
			a.fail(c, forbidden("user %s may list only the churn risks of their own customers (owner=%s)", r.user, r.user))
			return
		}
		owner = r.user
	}
	if a.read(r, a.churnReads()...) == nil {
		return
	}
	items, next, err := churn.ListRisks(c.Request.Context(), a.rdb, churn.Band(band), owner, cursor, limit)
	if err != nil {
		a.fail(c, err)
		return
	}
	raws := make([]json.RawMessage, len(items))
	for i, it := range items {
		if raws[i], err = json.Marshal(it); err != nil {
			a.fail(c, err)
			return
		}
	}
	b := listBody(raws, nil)
	if next != "" {
		// churn.ListRisks pages by rank member; its cursor is already opaque.
		b = append(b[:len(b)-len(`null}`)], strconv.Quote(next)+"}"...)
	}
	c.Header("Cache-Control", "no-cache")
	c.Data(http.StatusOK, "application/json; charset=utf-8", b)
}

// GET /v1/reports/churn: customers scored per band, the N-month rule's
// count and the churn warnings (raised, deferred, confirmed, cleared,
// reactivated; at risk and lost now; per month).
func (a *api) churnReport(c *gin.Context) {
	r := a.begin(c)
	if r.invalid() {
		return
	}
	if a.read(r, a.churnReads(projections.ActiveRead{Name: pReports})...) == nil {
		return
	}
	rep, err := churn.ReadRiskReport(c.Request.Context(), a.rdb)
	if err != nil {
		a.fail(c, err)
		return
	}
	writeJSON(c, rep)
}
