package domain

import (
	"slices"
	"time"

	"github.com/google/uuid"
)

// OpportunityStatus is an opportunity's state.
type OpportunityStatus string

// Opportunity states (DESIGN §8): unassigned → assigned (developing) → won | lost.
const (
	OpportunityStatusUnassigned OpportunityStatus = "unassigned"
	OpportunityStatusAssigned   OpportunityStatus = "assigned"
	OpportunityStatusWon        OpportunityStatus = "won"
	OpportunityStatusLost       OpportunityStatus = "lost"
)

// Prospect is a not-yet customer an opportunity is for. Name is required.
type Prospect struct {
	Name         string `json:"name"`
	ContactName  string `json:"contactName,omitempty"`
	ContactPhone string `json:"contactPhone,omitempty"`
}

// CreateOpportunity holds the fields of "create opportunity". Exactly one
// of CustomerID and Prospect must be set (the command layer checks that the
// customer exists). ExpectedValue, when set, needs Currency.
type CreateOpportunity struct {
	Title         string     `json:"title"`
	Source        string     `json:"source,omitempty"`
	CustomerID    *uuid.UUID `json:"customerId,omitempty"`
	Prospect      *Prospect  `json:"prospect,omitempty"`
	SuccessRate   int        `json:"successRate,omitempty"`
	ExpectedValue *Decimal   `json:"expectedValue,omitempty"`
	Currency      string     `json:"currency,omitempty"`
	Description   string     `json:"description,omitempty"`
	// CreatedBy is the actor's user id (set by the command layer).
	CreatedBy string `json:"-"`
}

// OpportunityDetails are an opportunity's editable fields.
type OpportunityDetails struct {
	Title         string    `json:"title"`
	Source        string    `json:"source,omitempty"`
	Description   string    `json:"description,omitempty"`
	SuccessRate   int       `json:"successRate"`
	ExpectedValue *Decimal  `json:"expectedValue,omitempty"`
	Currency      string    `json:"currency,omitempty"`
	Prospect      *Prospect `json:"prospect,omitempty"`
}

// OpportunityChange is a patch of the editable fields: nil stays as it is.
// Prospect fields can be changed only on an opportunity for a prospect.
// An ExpectedValue pointing to nothing cannot be expressed; to clear the
// expected value set ClearExpectedValue.
type OpportunityChange struct {
	Title              *string  `json:"title,omitempty"`
	Source             *string  `json:"source,omitempty"`
	Description        *string  `json:"description,omitempty"`
	SuccessRate        *int     `json:"successRate,omitempty"`
	ExpectedValue      *Decimal `json:"expectedValue,omitempty"`
	ClearExpectedValue bool     `json:"-"`
	Currency           *string  `json:"currency,omitempty"`
	ProspectName       *string  `json:"-"`
	ProspectContact    *string  `json:"-"`
	ProspectPhone      *string  `json:"-"`
}

// PlanItem is one step of the development plan.
type PlanItem struct {
	ID      uuid.UUID `json:"itemId"`
	DueDate time.Time `json:"dueDate"`
	Action  string    `json:"action"`
	Result  string    `json:"result,omitempty"`
}

// PlanItemChange is a patch of a plan step: nil stays as it is.
type PlanItemChange struct {
	DueDate *time.Time `json:"dueDate,omitempty"`
	Action  *string    `json:"action,omitempty"`
}

// WinOpportunity holds the fields of "win": the amount won (optional; in
// Currency, which defaults to the opportunity's currency).
type WinOpportunity struct {
	Amount   *Decimal `json:"amount,omitempty"`
	Currency string   `json:"currency,omitempty"`
}

// Opportunity is the sales opportunity aggregate (stream opportunity-<id>).
type Opportunity struct {
	changes []Event

	exists      bool
	id          uuid.UUID
	customerID  *uuid.UUID
	details     OpportunityDetails
	createdBy   string
	assigneeID  string
	status      OpportunityStatus
	plan        []PlanItem
	wonCustomer uuid.UUID
}

// NewOpportunity returns an empty opportunity, before its first event.
func NewOpportunity() *Opportunity { return &Opportunity{} }

// Changes returns the events recorded since load, in order.
func (o *Opportunity) Changes() []Event { return slices.Clone(o.changes) }

// ClearChanges forgets the recorded events.
func (o *Opportunity) ClearChanges() { o.changes = nil }

func (o *Opportunity) record(e Event) {
	o.Apply(e)
	o.changes = append(o.changes, e)
}

// Exists reports whether the opportunity has been created.
func (o *Opportunity) Exists() bool { return o.exists }

// ID returns the opportunity id.
func (o *Opportunity) ID() uuid.UUID { return o.id }

// Status returns unassigned, assigned, won or lost.
func (o *Opportunity) Status() OpportunityStatus { return o.status }

// CustomerID returns the existing customer the opportunity is for, or, once
// won for a prospect, the registered customer; uuid.Nil for an open
// prospect opportunity.
func (o *Opportunity) CustomerID() uuid.UUID {
	if o.customerID != nil {
		return *o.customerID
	}
	return o.wonCustomer
}

// Prospect returns the prospect (nil for an existing customer).
func (o *Opportunity) Prospect() *Prospect {
	if o.details.Prospect == nil {
		return nil
	}
	p := *o.details.Prospect
	return &p
}

// Details returns a copy of the editable fields.
func (o *Opportunity) Details() OpportunityDetails {
	d := o.details
	d.Prospect = o.Prospect()
	return d
}

// Title returns the title.
func (o *Opportunity) Title() string { return o.details.Title }

// CreatedBy returns the creator's user id.
func (o *Opportunity) CreatedBy() string { return o.createdBy }

// AssigneeID returns the assigned sales rep ("" when unassigned).
func (o *Opportunity) AssigneeID() string { return o.assigneeID }

// Plan returns a copy of the development plan.
func (o *Opportunity) Plan() []PlanItem { return slices.Clone(o.plan) }

func (o *Opportunity) planIndex(id uuid.UUID) int {
	return slices.IndexFunc(o.plan, func(p PlanItem) bool { return p.ID == id })
}

// Apply changes the state by one event of an opportunity stream; it never
// fails. Events of other aggregates are ignored.
func (o *Opportunity) Apply(e Event) {
	switch e := deref(e).(type) {
	case OpportunityCreated:
		o.exists = true
		o.id = e.OpportunityID
		o.customerID = e.CustomerID
		o.details = OpportunityDetails{Title: e.Title, Source: e.Source, Description: e.Description,
			SuccessRate: e.SuccessRate, ExpectedValue: e.ExpectedValue, Currency: e.Currency, Prospect: e.Prospect}
		o.createdBy = e.CreatedBy
		o.status = OpportunityStatusUnassigned
	case OpportunityChanged:
		o.details = e.Details
	case OpportunityAssigned:
		o.assigneeID = e.AssigneeID
		if o.status == OpportunityStatusUnassigned {
			o.status = OpportunityStatusAssigned
		}
	case PlanItemAdded:
		if o.planIndex(e.ItemID) < 0 {
			o.plan = append(o.plan, PlanItem{ID: e.ItemID, DueDate: e.DueDate, Action: e.Action})
		}
	case PlanItemChanged:
		if i := o.planIndex(e.ItemID); i >= 0 {
			o.plan[i].DueDate = e.DueDate
			o.plan[i].Action = e.Action
		}
	case PlanItemResultRecorded:
		if i := o.planIndex(e.ItemID); i >= 0 {
			o.plan[i].Result = e.Result
		}
	case OpportunityWon:
		o.status = OpportunityStatusWon
		o.wonCustomer = e.CustomerID
	case OpportunityLost:
		o.status = OpportunityStatusLost
	}
}

func (o *Opportunity) mustExist() error {
	if !o.exists {
		return notCreated("opportunity")
	}
	return nil
}

func (o *Opportunity) mustBeOpen(action string) error {
	if err := o.mustExist(); err != nil {
		return err
	}
	if o.status == OpportunityStatusWon || o.status == OpportunityStatusLost {
		return conflict("opportunity is %s; a closed opportunity cannot be %s", o.status, action)
	}
	return nil
}

func (o *Opportunity) mustBeAssigned(action string) error {
	if err := o.mustBeOpen(action); err != nil {
		return err
	}
	if o.status != OpportunityStatusAssigned {
		return conflict("opportunity must be assigned before it can be %s", action)
	}
	return nil
}

func validateDetails(d *OpportunityDetails, fe *fieldErrors) {
	d.Title = trim(d.Title)
	fe.required("title", d.Title, MaxShortText)
	d.Source = trim(d.Source)
	fe.maxLen("source", d.Source, MaxShortText)
	d.Description = trim(d.Description)
	fe.maxLen("description", d.Description, MaxLongText)
	fe.rng("successRate", d.SuccessRate, 0, 100)
	d.Currency = trim(d.Currency)
	if d.ExpectedValue != nil {
		if d.ExpectedValue.Sign() < 0 {
			fe.add("expectedValue", "must not be negative")
		}
		fe.currency("currency", d.Currency)
	} else if d.Currency != "" && !ValidCurrency(d.Currency) {
		fe.currency("currency", d.Currency)
	}
	if d.Prospect != nil {
		p := *d.Prospect
		p.Name = trim(p.Name)
		fe.required("prospect.name", p.Name, MaxShortText)
		p.ContactName = trim(p.ContactName)
		fe.maxLen("prospect.contactName", p.ContactName, MaxShortText)
		p.ContactPhone = trim(p.ContactPhone)
		fe.maxLen("prospect.contactPhone", p.ContactPhone, MaxShortText)
		d.Prospect = &p
	}
}

// Create records OpportunityCreated (state unassigned). Exactly one of
// customerId and prospect is required (field "customerId" when neither,
// "prospect" when both).
func (o *Opportunity) Create(id uuid.UUID, p CreateOpportunity, at time.Time) error {
	if o.exists {
		return alreadyCreated("opportunity")
	}
	var fe fieldErrors
	if id == uuid.Nil {
		fe.add("id", "is required")
	}
	d := OpportunityDetails{Title: p.Title, Source: p.Source, Description: p.Description, SuccessRate: p.SuccessRate,
		ExpectedValue: p.ExpectedValue, Currency: p.Currency, Prospect: p.Prospect}
	switch {
	case p.CustomerID == nil && p.Prospect == nil:
		fe.add("customerId", "customerId or prospect is required")
	case p.CustomerID != nil && p.Prospect != nil:
		fe.add("prospect", "give either customerId or prospect, not both")
	case p.CustomerID != nil && *p.CustomerID == uuid.Nil:
		fe.add("customerId", "must be a customer id")
	}
	validateDetails(&d, &fe)
	if err := fe.err(); err != nil {
		return err
	}
	var cust *uuid.UUID
	if p.CustomerID != nil {
		v := *p.CustomerID
		cust = &v
	}
	o.record(OpportunityCreated{
		OpportunityID: id,
		CustomerID:    cust,
		Prospect:      d.Prospect,
		Title:         d.Title,
		Source:        d.Source,
		Description:   d.Description,
		SuccessRate:   d.SuccessRate,
		ExpectedValue: d.ExpectedValue,
		Currency:      d.Currency,
		CreatedBy:     trim(p.CreatedBy),
		CreatedAt:     utc(at),
	})
	return nil
}

// Change records OpportunityChanged with the fields that really change.
// Only an open (unassigned or assigned) opportunity can be changed.
func (o *Opportunity) Change(p OpportunityChange, at time.Time) error {
	if err := o.mustBeOpen("changed"); err != nil {
		return err
	}
	old := o.Details()
	next := o.Details()
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&next.Title, p.Title)
	set(&next.Source, p.Source)
	set(&next.Description, p.Description)
	set(&next.Currency, p.Currency)
	if p.SuccessRate != nil {
		next.SuccessRate = *p.SuccessRate
	}
	if p.ExpectedValue != nil {
		v := *p.ExpectedValue
		next.ExpectedValue = &v
	}
	if p.ClearExpectedValue {
		next.ExpectedValue = nil
	}
	var fe fieldErrors
	if p.ProspectName != nil || p.ProspectContact != nil || p.ProspectPhone != nil {
		if next.Prospect == nil {
			fe.add("prospect", "the opportunity is for an existing customer")
		} else {
			set(&next.Prospect.Name, p.ProspectName)
			set(&next.Prospect.ContactName, p.ProspectContact)
			set(&next.Prospect.ContactPhone, p.ProspectPhone)
		}
	}
	validateDetails(&next, &fe)
	if err := fe.err(); err != nil {
		return err
	}
	var changes []FieldChange
	add := func(field, a, b string) {
		if a != b {
			changes = append(changes, FieldChange{Field: field, From: a, To: b})
		}
	}
	add("title", old.Title, next.Title)
	add("source", old.Source, next.Source)
	add("description", old.Description, next.Description)
	add("successRate", itoa(old.SuccessRate), itoa(next.SuccessRate))
	if !decPtrEqual(old.ExpectedValue, next.ExpectedValue) {
		changes = append(changes, FieldChange{Field: "expectedValue", From: decText(old.ExpectedValue), To: decText(next.ExpectedValue)})
	}
	add("currency", old.Currency, next.Currency)
	if old.Prospect != nil && next.Prospect != nil {
		add("prospect.name", old.Prospect.Name, next.Prospect.Name)
		add("prospect.contactName", old.Prospect.ContactName, next.Prospect.ContactName)
		add("prospect.contactPhone", old.Prospect.ContactPhone, next.Prospect.ContactPhone)
	}
	if len(changes) == 0 {
		return nil
	}
	o.record(OpportunityChanged{OpportunityID: o.id, CustomerID: o.customerID, Changes: changes, Details: next})
	return nil
}

func decPtrEqual(a, b *Decimal) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Equal(*b)
}

// Assign records OpportunityAssigned (field "assigneeId", required):
// unassigned → assigned, or a reassignment. The same assignee records
// nothing; a closed opportunity is KindConflict.
func (o *Opportunity) Assign(assigneeID string, at time.Time) error {
	if err := o.mustBeOpen("assigned"); err != nil {
		return err
	}
	assigneeID = trim(assigneeID)
	var fe fieldErrors
	fe.required("assigneeId", assigneeID, MaxShortText)
	if err := fe.err(); err != nil {
		return err
	}
	if assigneeID == o.assigneeID {
		return nil
	}
	o.record(OpportunityAssigned{OpportunityID: o.id, CustomerID: o.customerID, PreviousAssigneeID: o.assigneeID,
		AssigneeID: assigneeID, AssignedAt: utc(at)})
	return nil
}

// AddPlanItem records PlanItemAdded (fields "dueDate", "action" required).
// The caller chooses the item id. The opportunity must be assigned
// (developing); an existing item id with the same fields records nothing.
func (o *Opportunity) AddPlanItem(itemID uuid.UUID, dueDate time.Time, action string, at time.Time) error {
	if err := o.mustExist(); err != nil {
		return err
	}
	action = trim(action)
	var fe fieldErrors
	if itemID == uuid.Nil {
		fe.add("itemId", "is required")
	}
	if dueDate.IsZero() {
		fe.add("dueDate", "is required")
	}
	fe.required("action", action, MaxLongText)
	if err := fe.err(); err != nil {
		return err
	}
	if err := o.mustBeAssigned("planned"); err != nil {
		return err
	}
	if i := o.planIndex(itemID); i >= 0 {
		if o.plan[i].DueDate.Equal(dueDate) && o.plan[i].Action == action {
			return nil
		}
		return conflict("plan item %s already exists", itemID)
	}
	o.record(PlanItemAdded{OpportunityID: o.id, CustomerID: o.customerID, ItemID: itemID, DueDate: utc(dueDate), Action: action})
	return nil
}

// ChangePlanItem records PlanItemChanged with the fields that change. An
// unknown item is KindNotFound; the opportunity must be assigned.
func (o *Opportunity) ChangePlanItem(itemID uuid.UUID, p PlanItemChange, at time.Time) error {
	if err := o.mustBeAssigned("planned"); err != nil {
		return err
	}
	i := o.planIndex(itemID)
	if i < 0 {
		return notFound("plan item %s not found", itemID)
	}
	old := o.plan[i]
	next := old
	var fe fieldErrors
	if p.DueDate != nil {
		if p.DueDate.IsZero() {
			fe.add("dueDate", "is required")
		}
		next.DueDate = utc(*p.DueDate)
	}
	if p.Action != nil {
		next.Action = trim(*p.Action)
		fe.required("action", next.Action, MaxLongText)
	}
	if err := fe.err(); err != nil {
		return err
	}
	var changes []FieldChange
	if !old.DueDate.Equal(next.DueDate) {
		changes = append(changes, FieldChange{Field: "dueDate", From: timeText(old.DueDate), To: timeText(next.DueDate)})
	}
	if old.Action != next.Action {
		changes = append(changes, FieldChange{Field: "action", From: old.Action, To: next.Action})
	}
	if len(changes) == 0 {
		return nil
	}
	o.record(PlanItemChanged{OpportunityID: o.id, CustomerID: o.customerID, ItemID: itemID, Changes: changes,
		DueDate: next.DueDate, Action: next.Action})
	return nil
}

// RecordPlanItemResult records PlanItemResultRecorded (field "result",
// required). The same result again records nothing.
func (o *Opportunity) RecordPlanItemResult(itemID uuid.UUID, result string, at time.Time) error {
	if err := o.mustBeAssigned("planned"); err != nil {
		return err
	}
	i := o.planIndex(itemID)
	if i < 0 {
		return notFound("plan item %s not found", itemID)
	}
	result = trim(result)
	var fe fieldErrors
	fe.required("result", result, MaxLongText)
	if err := fe.err(); err != nil {
		return err
	}
	if o.plan[i].Result == result {
		return nil
	}
	o.record(PlanItemResultRecorded{OpportunityID: o.id, CustomerID: o.customerID, ItemID: itemID,
		PreviousResult: o.plan[i].Result, Result: result, RecordedAt: utc(at)})
	return nil
}

// Win records OpportunityWon. Only an assigned opportunity can be won
// (unassigned, won and lost ones are KindConflict). For a prospect it also
// returns the new customer, with CustomerRegistered (id
// CustomerIDForOpportunity, name from the prospect, owner = assignee) and,
// when the prospect has a contact name, ContactAdded (id
// ContactIDForOpportunity) recorded: the command layer appends both
// streams (the customer stream with expected revision "no stream", so a
// retry never registers twice). For an existing customer newCustomer is nil.
func (o *Opportunity) Win(p WinOpportunity, at time.Time) (newCustomer *Customer, err error) {
	if err := o.mustExist(); err != nil {
		return nil, err
	}
	var fe fieldErrors
	cur := trim(p.Currency)
	if p.Amount != nil {
		if p.Amount.Sign() < 0 {
			fe.add("amount", "must not be negative")
		}
		if cur == "" {
			cur = o.details.Currency
		}
		fe.currency("currency", cur)
	} else if cur != "" {
		fe.currency("currency", cur)
	}
	if err := fe.err(); err != nil {
		return nil, err
	}
	if err := o.mustBeAssigned("won"); err != nil {
		return nil, err
	}
	won := OpportunityWon{OpportunityID: o.id, Amount: p.Amount, Currency: cur, AssigneeID: o.assigneeID, WonAt: utc(at)}
	if o.customerID != nil {
		won.CustomerID = *o.customerID
	} else {
		won.CustomerID = CustomerIDForOpportunity(o.id)
		won.NewCustomer = true
		oppID := o.id
		newCustomer = NewCustomer()
		pr := o.Prospect()
		if pr == nil {
			pr = &Prospect{Name: o.details.Title}
		}
		reg := RegisterCustomer{Profile: Profile{Name: pr.Name, Phone: pr.ContactPhone}, OwnerID: o.assigneeID, OpportunityID: &oppID}
		if err := newCustomer.Register(won.CustomerID, reg, at); err != nil {
			return nil, Wrap(KindInternal, err, "registering the prospect as a customer failed")
		}
		if pr.ContactName != "" {
			if err := newCustomer.AddContact(ContactIDForOpportunity(o.id), Contact{Name: pr.ContactName, Phone: pr.ContactPhone}, at); err != nil {
				return nil, Wrap(KindInternal, err, "adding the prospect's contact failed")
			}
		}
	}
	o.record(won)
	return newCustomer, nil
}

// Lose records OpportunityLost (field "reason", required) from unassigned
// or assigned; a won or lost opportunity is KindConflict.
func (o *Opportunity) Lose(reason string, at time.Time) error {
	if err := o.mustExist(); err != nil {
		return err
	}
	reason = trim(reason)
	var fe fieldErrors
	fe.required("reason", reason, MaxLongText)
	if err := fe.err(); err != nil {
		return err
	}
	if err := o.mustBeOpen("lost"); err != nil {
		return err
	}
	o.record(OpportunityLost{OpportunityID: o.id, CustomerID: o.customerID, Reason: reason, PreviousStatus: o.status, LostAt: utc(at)})
	return nil
}
