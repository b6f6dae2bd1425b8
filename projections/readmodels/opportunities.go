package readmodels

import (
	"context"
	"time"

	"github.com/crm-es/crm/domain"
	"github.com/crm-es/crm/projections"
)

// Opportunities maintains a document per opportunity, its list indexes and
// the pipeline dashboard.
//
// Keys (relative):
//
//	opportunity:<id>          Opportunity document (JSON)
//	all                       sorted set of ids, score = createdAt Unix ms
//	status:<status>           sorted set of ids in that state, score = createdAt Unix ms
//	assignee:<assigneeId>     sorted set of the assignee's ids, score = createdAt Unix ms
//	customer:<customerId>     sorted set of the customer's ids, score = createdAt Unix ms
//	pipeline                  Pipeline document (JSON)
type Opportunities struct{ cache *docCache }

// Opportunity key helpers (relative keys of the opportunities projection).
func OpportunityKey(id string) string                 { return "opportunity:" + id }
func OpportunityStatusKey(status string) string       { return "status:" + status }
func OpportunityAssigneeKey(assignee string) string   { return "assignee:" + assignee }
func OpportunityCustomerKey(customerID string) string { return "customer:" + customerID }

// Fixed keys of the opportunities projection.
const (
	OpportunityAllKey = "all"
	PipelineKey       = "pipeline"
)

// Opportunity is the opportunity document.
type Opportunity struct {
	ID            string           `json:"id"`
	Stream        string           `json:"stream"`
	Revision      uint64           `json:"revision"`
	Position      uint64           `json:"position,string"`
	CustomerID    string           `json:"customerId,omitempty"`
	Prospect      *domain.Prospect `json:"prospect,omitempty"`
	Title         string           `json:"title"`
	Source        string           `json:"source,omitempty"`
	Description   string           `json:"description,omitempty"`
	SuccessRate   int              `json:"successRate"`
	ExpectedValue *domain.Decimal  `json:"expectedValue,omitempty"`
	Currency      string           `json:"currency,omitempty"`
	CreatedBy     string           `json:"createdBy,omitempty"`
	CreatedAt     time.Time        `json:"createdAt"`
	Status        string           `json:"status"`
	AssigneeID    string           `json:"assigneeId,omitempty"`
	AssignedAt    *time.Time       `json:"assignedAt,omitempty"`
	Plan          []PlanItem       `json:"plan"`
	Amount        *domain.Decimal  `json:"amount,omitempty"`      // won amount
	WonCurrency   string           `json:"wonCurrency,omitempty"` // the won amount's (Currency is the expected value's)
	WonAt         *time.Time       `json:"wonAt,omitempty"`
	NewCustomer   bool             `json:"newCustomer,omitempty"`
	LostAt        *time.Time       `json:"lostAt,omitempty"`
	LostReason    string           `json:"lostReason,omitempty"`
}

// PlanItem is one step of an opportunity's development plan.
type PlanItem struct {
	ID       string     `json:"id"`
	DueDate  time.Time  `json:"dueDate"`
	Action   string     `json:"action"`
	Result   string     `json:"result,omitempty"`
	ResultAt *time.Time `json:"resultAt,omitempty"`
}

// Pipeline is the pipeline dashboard: count and value per state and per
// assignee and state, win rate and the average time to win. The value of
// an open opportunity is its expected value, of a won one its amount (else
// its expected value), each in its own currency.
type Pipeline struct {
	ByStatus   map[string]Bucket            `json:"byStatus"`
	ByAssignee map[string]map[string]Bucket `json:"byAssignee"`
	Won        int                          `json:"won"`
	Lost       int                          `json:"lost"`
	// WinRate is won / (won + lost), 0 when none is closed.
	WinRate float64 `json:"winRate"`
	// TimeToWinSeconds sums createdAt → wonAt over the won ones.
	TimeToWinSeconds int64   `json:"timeToWinSeconds"`
	AvgDaysToWin     float64 `json:"avgDaysToWin"`
}

// Name returns "opportunities".
func (Opportunities) Name() string { return "opportunities" }

// Version returns 2 (2: the won amount has its own currency, wonCurrency; a new version is built beside the
// served one and replaces it, so a deployed read store gets it whole).
func (Opportunities) Version() int { return 2 }

var opportunitiesHandles = typeSet(opportunityTypes...)

// Handles reports the opportunity events.
func (Opportunities) Handles(t string) bool { return opportunitiesHandles[t] }

func (o *Opportunity) value() (*domain.Decimal, string) {
	if o.Status == string(domain.OpportunityStatusWon) && o.Amount != nil {
		if o.WonCurrency != "" {
			return o.Amount, o.WonCurrency
		}
		return o.Amount, o.Currency
	}
	return o.ExpectedValue, o.Currency
}

// share is what decides o's contribution to the pipeline.
func (o *Opportunity) share() string {
	v, cur := o.value()
	vs := ""
	if v != nil {
		vs = v.String()
	}
	var won string
	if o.WonAt != nil {
		won = o.WonAt.Format(time.RFC3339Nano)
	}
	return o.Status + "|" + o.AssigneeID + "|" + vs + "|" + cur + "|" + won + "|" + o.CreatedAt.Format(time.RFC3339Nano)
}

// contribute adds (sign +1) or removes (-1) o's share of the pipeline.
func (o *Opportunity) contribute(pl *Pipeline, sign int) error {
	v, cur := o.value()
	var err error
	if pl.ByStatus, err = bucketAdd(pl.ByStatus, o.Status, cur, v, sign); err != nil {
		return err
	}
	if o.AssigneeID != "" {
		if pl.ByAssignee == nil {
			pl.ByAssignee = map[string]map[string]Bucket{}
		}
		m, err := bucketAdd(pl.ByAssignee[o.AssigneeID], o.Status, cur, v, sign)
		if err != nil {
			return err
		}
		if len(m) == 0 {
			delete(pl.ByAssignee, o.AssigneeID)
		} else {
			pl.ByAssignee[o.AssigneeID] = m
		}
	}
	switch o.Status {
	case string(domain.OpportunityStatusWon):
		pl.Won += sign
		if o.WonAt != nil {
			pl.TimeToWinSeconds += int64(sign) * int64(o.WonAt.Sub(o.CreatedAt)/time.Second)
		}
	case string(domain.OpportunityStatusLost):
		pl.Lost += sign
	}
	return nil
}

func (o *Opportunity) unindex(tx projections.Tx) {
	tx.ZRem(OpportunityStatusKey(o.Status), o.ID)
	if o.AssigneeID != "" {
		tx.ZRem(OpportunityAssigneeKey(o.AssigneeID), o.ID)
	}
	if o.CustomerID != "" {
		tx.ZRem(OpportunityCustomerKey(o.CustomerID), o.ID)
	}
}

func (o *Opportunity) index(tx projections.Tx) {
	s := ms(o.CreatedAt)
	tx.ZAdd(OpportunityAllKey, s, o.ID)
	tx.ZAdd(OpportunityStatusKey(o.Status), s, o.ID)
	if o.AssigneeID != "" {
		tx.ZAdd(OpportunityAssigneeKey(o.AssigneeID), s, o.ID)
	}
	if o.CustomerID != "" {
		tx.ZAdd(OpportunityCustomerKey(o.CustomerID), s, o.ID)
	}
}

// Handle applies one event.
func (p Opportunities) Handle(ctx context.Context, tx projections.Tx, e projections.Event) error {
	d := data(e)
	id := streamID(e)
	if id == "" {
		return unexpected(p.Name(), e)
	}
	o := &Opportunity{}
	found, err := getDoc(ctx, tx, p.cache, OpportunityKey(id), o)
	if err != nil {
		return err
	}
	if found && e.Revision <= o.Revision {
		return nil
	}
	if _, created := d.(domain.OpportunityCreated); !found && !created {
		return permanent("%s: %s at %s/%d before OpportunityCreated", p.Name(), e.Type, e.Stream, e.Revision)
	}
	old := *o
	if found {
		o.unindex(tx)
	}
	switch d := d.(type) {
	case domain.OpportunityCreated:
		*o = Opportunity{
			ID: id, Stream: e.Stream, CustomerID: idPtr(d.CustomerID), Prospect: d.Prospect, Title: d.Title,
			Source: d.Source, Description: d.Description, SuccessRate: d.SuccessRate, ExpectedValue: d.ExpectedValue,
			Currency: d.Currency, CreatedBy: d.CreatedBy, CreatedAt: d.CreatedAt.UTC(),
			Status: string(domain.OpportunityStatusUnassigned), Plan: []PlanItem{},
		}
	case domain.OpportunityChanged:
		x := d.Details
		o.Title, o.Source, o.Description, o.SuccessRate = x.Title, x.Source, x.Description, x.SuccessRate
		o.ExpectedValue, o.Currency, o.Prospect = x.ExpectedValue, x.Currency, x.Prospect
	case domain.OpportunityAssigned:
		o.AssigneeID, o.AssignedAt = d.AssigneeID, tptr(d.AssignedAt)
		o.Status = string(domain.OpportunityStatusAssigned)
	case domain.PlanItemAdded:
		o.Plan = upsertPlan(o.Plan, d.ItemID.String(), func(it *PlanItem) { it.DueDate, it.Action = d.DueDate.UTC(), d.Action })
	case domain.PlanItemChanged:
		o.Plan = upsertPlan(o.Plan, d.ItemID.String(), func(it *PlanItem) { it.DueDate, it.Action = d.DueDate.UTC(), d.Action })
	case domain.PlanItemResultRecorded:
		o.Plan = upsertPlan(o.Plan, d.ItemID.String(), func(it *PlanItem) { it.Result, it.ResultAt = d.Result, tptr(d.RecordedAt) })
	case domain.OpportunityWon:
		o.Status = string(domain.OpportunityStatusWon)
		o.CustomerID, o.NewCustomer, o.WonAt = d.CustomerID.String(), d.NewCustomer, tptr(d.WonAt)
		if d.Amount != nil {
			// The won amount keeps its currency apart: expected 1000 EUR,
			// won 900 GBP still shows expectedValue 1000 EUR.
			o.Amount, o.WonCurrency = d.Amount, d.Currency
			if o.WonCurrency == "" {
				o.WonCurrency = o.Currency
			}
		}
		if d.AssigneeID != "" {
			o.AssigneeID = d.AssigneeID
		}
	case domain.OpportunityLost:
		o.Status = string(domain.OpportunityStatusLost)
		o.LostAt, o.LostReason = tptr(d.LostAt), d.Reason
	default:
		return unexpected(p.Name(), e)
	}
	o.Revision, o.Position = e.Revision, e.Position
	o.index(tx)
	if found && old.share() == o.share() {
		return setDoc(tx, p.cache, OpportunityKey(id), o) // the pipeline is unchanged
	}
	var pl Pipeline
	if _, err := getDoc(ctx, tx, p.cache, PipelineKey, &pl); err != nil {
		return err
	}
	if found {
		if err := old.contribute(&pl, -1); err != nil {
			return err
		}
	}
	if err := o.contribute(&pl, +1); err != nil {
		return err
	}
	if closed := pl.Won + pl.Lost; closed > 0 {
		pl.WinRate = float64(pl.Won) / float64(closed)
	} else {
		pl.WinRate = 0
	}
	if pl.Won > 0 {
		pl.AvgDaysToWin = float64(pl.TimeToWinSeconds) / float64(pl.Won) / 86400
	} else {
		pl.AvgDaysToWin = 0
	}
	nonNil(&pl.ByStatus)
	nonNil(&pl.ByAssignee)
	if err := setDoc(tx, p.cache, PipelineKey, &pl); err != nil {
		return err
	}
	return setDoc(tx, p.cache, OpportunityKey(id), o)
}

func upsertPlan(plan []PlanItem, id string, f func(*PlanItem)) []PlanItem {
	out := append([]PlanItem(nil), plan...)
	for i := range out {
		if out[i].ID == id {
			f(&out[i])
			return out
		}
	}
	it := PlanItem{ID: id}
	f(&it)
	return append(out, it)
}
