package domain

import (
	"slices"
	"time"

	"github.com/google/uuid"
)

// CustomerStatus is a customer's churn state.
type CustomerStatus string

// Customer states (DESIGN §8).
const (
	CustomerStatusActive CustomerStatus = "active"
	CustomerStatusAtRisk CustomerStatus = "at_risk"
	CustomerStatusLost   CustomerStatus = "lost"
)

// Customer levels 1–5.
const (
	LevelStandard         = 1
	LevelPriorityProspect = 2
	LevelKeyAccount       = 3
	LevelPartner          = 4
	LevelStrategicPartner = 5
)

// LevelName returns the name of a customer level ("key account"), "" for
// an unknown level.
func LevelName(level int) string {
	switch level {
	case LevelStandard:
		return "standard"
	case LevelPriorityProspect:
		return "priority prospect"
	case LevelKeyAccount:
		return "key account"
	case LevelPartner:
		return "partner"
	case LevelStrategicPartner:
		return "strategic partner"
	}
	return ""
}

// Interaction channels.
const (
	ChannelCall    = "call"
	ChannelEmail   = "email"
	ChannelVisit   = "visit"
	ChannelMeeting = "meeting"
	ChannelFax     = "fax"
	ChannelWeb     = "web"
	ChannelChat    = "chat"
	ChannelOther   = "other"
)

// Channels lists the valid interaction (and service request) channels.
var Channels = []string{ChannelCall, ChannelEmail, ChannelVisit, ChannelMeeting, ChannelFax, ChannelWeb, ChannelChat, ChannelOther}

// Why a churn warning was raised.
const (
	ChurnWhyRule  = "rule"
	ChurnWhyScore = "score"
)

// Profile is a customer's descriptive data. Every field is optional except
// Name. RegisteredCapital and AnnualRevenue, when set, are decimal strings.
type Profile struct {
	Name                string `json:"name"`
	Region              string `json:"region,omitempty"`
	Industry            string `json:"industry,omitempty"`
	Address             string `json:"address,omitempty"`
	Zip                 string `json:"zip,omitempty"`
	Phone               string `json:"phone,omitempty"`
	Fax                 string `json:"fax,omitempty"`
	Website             string `json:"website,omitempty"`
	LicenceNo           string `json:"licenceNo,omitempty"`
	LegalRepresentative string `json:"legalRepresentative,omitempty"`
	RegisteredCapital   string `json:"registeredCapital,omitempty"`
	AnnualRevenue       string `json:"annualRevenue,omitempty"`
	Bank                string `json:"bank,omitempty"`
	BankAccount         string `json:"bankAccount,omitempty"`
	LocalTaxNo          string `json:"localTaxNo,omitempty"`
	NationalTaxNo       string `json:"nationalTaxNo,omitempty"`
}

// profileFields lists the profile fields by body name with their accessors,
// in a fixed order (the order of Changes in CustomerProfileChanged).
var profileFields = []struct {
	name string
	get  func(*Profile) *string
	max  int
}{
	{"name", func(p *Profile) *string { return &p.Name }, MaxShortText},
	{"region", func(p *Profile) *string { return &p.Region }, MaxShortText},
	{"industry", func(p *Profile) *string { return &p.Industry }, MaxShortText},
	{"address", func(p *Profile) *string { return &p.Address }, 1000},
	{"zip", func(p *Profile) *string { return &p.Zip }, MaxShortText},
	{"phone", func(p *Profile) *string { return &p.Phone }, MaxShortText},
	{"fax", func(p *Profile) *string { return &p.Fax }, MaxShortText},
	{"website", func(p *Profile) *string { return &p.Website }, 1000},
	{"licenceNo", func(p *Profile) *string { return &p.LicenceNo }, MaxShortText},
	{"legalRepresentative", func(p *Profile) *string { return &p.LegalRepresentative }, MaxShortText},
	{"registeredCapital", func(p *Profile) *string { return &p.RegisteredCapital }, MaxShortText},
	{"annualRevenue", func(p *Profile) *string { return &p.AnnualRevenue }, MaxShortText},
	{"bank", func(p *Profile) *string { return &p.Bank }, MaxShortText},
	{"bankAccount", func(p *Profile) *string { return &p.BankAccount }, MaxShortText},
	{"localTaxNo", func(p *Profile) *string { return &p.LocalTaxNo }, MaxShortText},
	{"nationalTaxNo", func(p *Profile) *string { return &p.NationalTaxNo }, MaxShortText},
}

// normalize trims every field and validates the profile.
func (p *Profile) normalize(fe *fieldErrors, prefix string) {
	for _, f := range profileFields {
		v := f.get(p)
		*v = trim(*v)
		if f.name == "name" {
			fe.required(prefix+f.name, *v, f.max)
		} else {
			fe.maxLen(prefix+f.name, *v, f.max)
		}
		if (f.name == "registeredCapital" || f.name == "annualRevenue") && *v != "" {
			d, err := ParseDecimal(*v)
			if err != nil {
				fe.add(prefix+f.name, "must be a decimal number")
			} else if d.Sign() < 0 {
				fe.add(prefix+f.name, "must not be negative")
			}
		}
	}
}

// ProfileChange is a patch of the profile: nil fields stay as they are, a
// pointer to "" clears an optional field.
type ProfileChange struct {
	Name                *string `json:"name,omitempty"`
	Region              *string `json:"region,omitempty"`
	Industry            *string `json:"industry,omitempty"`
	Address             *string `json:"address,omitempty"`
	Zip                 *string `json:"zip,omitempty"`
	Phone               *string `json:"phone,omitempty"`
	Fax                 *string `json:"fax,omitempty"`
	Website             *string `json:"website,omitempty"`
	LicenceNo           *string `json:"licenceNo,omitempty"`
	LegalRepresentative *string `json:"legalRepresentative,omitempty"`
	RegisteredCapital   *string `json:"registeredCapital,omitempty"`
	AnnualRevenue       *string `json:"annualRevenue,omitempty"`
	Bank                *string `json:"bank,omitempty"`
	BankAccount         *string `json:"bankAccount,omitempty"`
	LocalTaxNo          *string `json:"localTaxNo,omitempty"`
	NationalTaxNo       *string `json:"nationalTaxNo,omitempty"`
}

func (c ProfileChange) ptrs() []*string {
	return []*string{c.Name, c.Region, c.Industry, c.Address, c.Zip, c.Phone, c.Fax, c.Website, c.LicenceNo,
		c.LegalRepresentative, c.RegisteredCapital, c.AnnualRevenue, c.Bank, c.BankAccount, c.LocalTaxNo, c.NationalTaxNo}
}

// RegisterCustomer holds the fields of "register customer". Level 0 means
// the default, 1 (standard); Credit and Satisfaction 0 mean not rated.
type RegisterCustomer struct {
	Profile
	Level        int    `json:"level,omitempty"`
	Credit       int    `json:"credit,omitempty"`
	Satisfaction int    `json:"satisfaction,omitempty"`
	OwnerID      string `json:"ownerId,omitempty"`
	// ExternalRef names the customer in a source system (importers).
	ExternalRef string `json:"externalRef,omitempty"`
	// OpportunityID is set by Opportunity.Win; commands leave it nil.
	OpportunityID *uuid.UUID `json:"-"`
}

// Contact is a contact person of a customer. Name is required.
type Contact struct {
	Name   string `json:"name"`
	Gender string `json:"gender,omitempty"`
	Title  string `json:"title,omitempty"`
	Phone  string `json:"phone,omitempty"`
	Mobile string `json:"mobile,omitempty"`
	Email  string `json:"email,omitempty"`
	Memo   string `json:"memo,omitempty"`
}

var contactFields = []struct {
	name string
	get  func(*Contact) *string
	max  int
}{
	{"name", func(c *Contact) *string { return &c.Name }, MaxShortText},
	{"gender", func(c *Contact) *string { return &c.Gender }, MaxShortText},
	{"title", func(c *Contact) *string { return &c.Title }, MaxShortText},
	{"phone", func(c *Contact) *string { return &c.Phone }, MaxShortText},
	{"mobile", func(c *Contact) *string { return &c.Mobile }, MaxShortText},
	{"email", func(c *Contact) *string { return &c.Email }, MaxShortText},
	{"memo", func(c *Contact) *string { return &c.Memo }, MaxLongText},
}

func (c *Contact) normalize(fe *fieldErrors) {
	for _, f := range contactFields {
		v := f.get(c)
		*v = trim(*v)
		if f.name == "name" {
			fe.required(f.name, *v, f.max)
		} else {
			fe.maxLen(f.name, *v, f.max)
		}
	}
}

// ContactChange is a patch of a contact: nil fields stay as they are.
type ContactChange struct {
	Name   *string `json:"name,omitempty"`
	Gender *string `json:"gender,omitempty"`
	Title  *string `json:"title,omitempty"`
	Phone  *string `json:"phone,omitempty"`
	Mobile *string `json:"mobile,omitempty"`
	Email  *string `json:"email,omitempty"`
	Memo   *string `json:"memo,omitempty"`
}

func (c ContactChange) ptrs() []*string {
	return []*string{c.Name, c.Gender, c.Title, c.Phone, c.Mobile, c.Email, c.Memo}
}

// ContactEntry is a contact with its id, as the Customer keeps it.
type ContactEntry struct {
	ID uuid.UUID `json:"contactId"`
	Contact
}

// Interaction holds the fields of "log interaction". Channel, OccurredAt
// and Summary are required; ContactID, when set, must name a contact of
// the customer.
type Interaction struct {
	Channel    string     `json:"channel"`
	OccurredAt time.Time  `json:"occurredAt"`
	Place      string     `json:"place,omitempty"`
	Summary    string     `json:"summary"`
	Detail     string     `json:"detail,omitempty"`
	ContactID  *uuid.UUID `json:"contactId,omitempty"`
}

// ChurnWarning holds the fields of a churn warning: Why is ChurnWhyRule or
// ChurnWhyScore; Score (0–100) goes with ChurnWhyScore.
type ChurnWarning struct {
	Why     string        `json:"why"`
	Score   *int          `json:"score,omitempty"`
	Signals []ChurnSignal `json:"signals,omitempty"`
}

// Customer is the customer aggregate (stream customer-<id>). Its state is
// unexported and changes only by applying events; command methods validate,
// then record events (available from Changes).
type Customer struct {
	changes []Event

	exists        bool
	id            uuid.UUID
	profile       Profile
	level         int
	credit        int
	satisfaction  int
	ownerID       string
	status        CustomerStatus
	contacts      []ContactEntry
	externalRef   string
	opportunityID *uuid.UUID
	registeredAt  time.Time
	lastWarning   time.Time // RaisedAt of the last ChurnWarningRaised
}

// NewCustomer returns an empty customer, before its first event.
func NewCustomer() *Customer { return &Customer{} }

// Changes returns the events recorded by command methods since the
// customer was loaded, in order.
func (c *Customer) Changes() []Event { return slices.Clone(c.changes) }

// ClearChanges forgets the recorded events (after they were appended).
func (c *Customer) ClearChanges() { c.changes = nil }

func (c *Customer) record(e Event) {
	c.Apply(e)
	c.changes = append(c.changes, e)
}

// Exists reports whether the customer has been registered.
func (c *Customer) Exists() bool { return c.exists }

// ID returns the customer id (uuid.Nil before registration).
func (c *Customer) ID() uuid.UUID { return c.id }

// Status returns active, at_risk or lost.
func (c *Customer) Status() CustomerStatus { return c.status }

// OwnerID returns the customer manager's user id ("" when none).
func (c *Customer) OwnerID() string { return c.ownerID }

// Name returns the customer's name.
func (c *Customer) Name() string { return c.profile.Name }

// Profile returns a copy of the profile.
func (c *Customer) Profile() Profile { return c.profile }

// Level returns the level 1–5.
func (c *Customer) Level() int { return c.level }

// Credit returns the credit rating 1–5, 0 when never rated.
func (c *Customer) Credit() int { return c.credit }

// Satisfaction returns the satisfaction rating 1–5, 0 when never rated.
func (c *Customer) Satisfaction() int { return c.satisfaction }

// ExternalRef returns the source-system reference given at registration.
func (c *Customer) ExternalRef() string { return c.externalRef }

// OpportunityID returns the opportunity whose win registered the customer
// (nil otherwise).
func (c *Customer) OpportunityID() *uuid.UUID {
	if c.opportunityID == nil {
		return nil
	}
	id := *c.opportunityID
	return &id
}

// RegisteredAt returns the registration time.
func (c *Customer) RegisteredAt() time.Time { return c.registeredAt }

// LastChurnWarningAt returns when the last churn warning was raised (zero
// when never).
func (c *Customer) LastChurnWarningAt() time.Time { return c.lastWarning }

// Contacts returns a copy of the contacts in the order they were added.
func (c *Customer) Contacts() []ContactEntry { return slices.Clone(c.contacts) }

// Contact returns the contact with the id.
func (c *Customer) Contact(id uuid.UUID) (ContactEntry, bool) {
	i := c.contactIndex(id)
	if i < 0 {
		return ContactEntry{}, false
	}
	return c.contacts[i], true
}

func (c *Customer) contactIndex(id uuid.UUID) int {
	return slices.IndexFunc(c.contacts, func(e ContactEntry) bool { return e.ID == id })
}

// Apply changes the state by one stored or recorded event of a customer
// stream. It never fails and never validates: events are facts. Events of
// other aggregates are ignored. Both T and *T are accepted.
func (c *Customer) Apply(e Event) {
	switch e := deref(e).(type) {
	case CustomerRegistered:
		c.exists = true
		c.id = e.CustomerID
		c.profile = e.Profile
		c.level = e.Level
		c.credit = e.Credit
		c.satisfaction = e.Satisfaction
		c.ownerID = e.OwnerID
		c.status = CustomerStatusActive
		c.externalRef = e.ExternalRef
		c.opportunityID = e.OpportunityID
		c.registeredAt = e.RegisteredAt
	case CustomerProfileChanged:
		c.profile = e.Profile
	case CustomerLevelChanged:
		c.level = e.To
	case CustomerCreditRated:
		c.credit = e.To
	case CustomerSatisfactionRated:
		c.satisfaction = e.To
	case CustomerOwnerAssigned:
		c.ownerID = e.OwnerID
	case ContactAdded:
		if i := c.contactIndex(e.ContactID); i >= 0 {
			c.contacts[i].Contact = e.Contact
		} else {
			c.contacts = append(c.contacts, ContactEntry{ID: e.ContactID, Contact: e.Contact})
		}
	case ContactChanged:
		if i := c.contactIndex(e.ContactID); i >= 0 {
			c.contacts[i].Contact = e.Contact
		}
	case ContactRemoved:
		if i := c.contactIndex(e.ContactID); i >= 0 {
			c.contacts = slices.Delete(c.contacts, i, i+1)
		}
	case InteractionLogged:
	case ChurnWarningRaised:
		c.status = CustomerStatusAtRisk
		c.lastWarning = e.RaisedAt
	case ChurnDeferred:
	case ChurnConfirmed:
		c.status = CustomerStatusLost
	case ChurnWarningCleared:
		c.status = CustomerStatusActive
	case CustomerReactivated:
		c.status = CustomerStatusActive
	}
}

func (c *Customer) mustExist() error {
	if !c.exists {
		return notCreated("customer")
	}
	return nil
}

// Register records CustomerRegistered: the customer's first event. Fails
// with KindConflict if the customer already exists, KindInvalid for bad
// fields (name required; level, credit, satisfaction 1–5 when given).
func (c *Customer) Register(id uuid.UUID, p RegisterCustomer, at time.Time) error {
	if c.exists {
		return alreadyCreated("customer")
	}
	var fe fieldErrors
	if id == uuid.Nil {
		fe.add("id", "is required")
	}
	p.Profile.normalize(&fe, "")
	if p.Level == 0 {
		p.Level = LevelStandard
	}
	fe.rng("level", p.Level, 1, 5)
	if p.Credit != 0 {
		fe.rng("credit", p.Credit, 1, 5)
	}
	if p.Satisfaction != 0 {
		fe.rng("satisfaction", p.Satisfaction, 1, 5)
	}
	p.OwnerID = trim(p.OwnerID)
	fe.maxLen("ownerId", p.OwnerID, MaxShortText)
	p.ExternalRef = trim(p.ExternalRef)
	fe.maxLen("externalRef", p.ExternalRef, MaxShortText)
	if err := fe.err(); err != nil {
		return err
	}
	c.record(CustomerRegistered{
		CustomerID:    id,
		Profile:       p.Profile,
		Level:         p.Level,
		Credit:        p.Credit,
		Satisfaction:  p.Satisfaction,
		OwnerID:       p.OwnerID,
		OpportunityID: p.OpportunityID,
		ExternalRef:   p.ExternalRef,
		RegisteredAt:  utc(at),
	})
	return nil
}

// ChangeProfile records CustomerProfileChanged with the fields that really
// change; a patch that changes nothing records nothing.
func (c *Customer) ChangeProfile(p ProfileChange, at time.Time) error {
	if err := c.mustExist(); err != nil {
		return err
	}
	next := c.profile
	for i, v := range p.ptrs() {
		if v != nil {
			*profileFields[i].get(&next) = *v
		}
	}
	var fe fieldErrors
	next.normalize(&fe, "")
	if err := fe.err(); err != nil {
		return err
	}
	var changes []FieldChange
	for _, f := range profileFields {
		old, nw := *f.get(&c.profile), *f.get(&next)
		if old != nw {
			changes = append(changes, FieldChange{Field: f.name, From: old, To: nw})
		}
	}
	if len(changes) == 0 {
		return nil
	}
	c.record(CustomerProfileChanged{CustomerID: c.id, Changes: changes, Profile: next})
	return nil
}

// rating checks that the customer exists and that v is a 1–5 rating for
// field, and reports whether it differs from the current value cur.
func (c *Customer) rating(field string, v, cur int) (changed bool, err error) {
	if err := c.mustExist(); err != nil {
		return false, err
	}
	var fe fieldErrors
	fe.rng(field, v, 1, 5)
	if err := fe.err(); err != nil {
		return false, err
	}
	return v != cur, nil
}

// ChangeLevel records CustomerLevelChanged (level 1–5, field "level").
func (c *Customer) ChangeLevel(level int, at time.Time) error {
	if changed, err := c.rating("level", level, c.level); err != nil || !changed {
		return err
	}
	c.record(CustomerLevelChanged{CustomerID: c.id, From: c.level, To: level})
	return nil
}

// RateCredit records CustomerCreditRated (credit 1–5, field "credit").
func (c *Customer) RateCredit(credit int, at time.Time) error {
	if changed, err := c.rating("credit", credit, c.credit); err != nil || !changed {
		return err
	}
	c.record(CustomerCreditRated{CustomerID: c.id, From: c.credit, To: credit})
	return nil
}

// RateSatisfaction records CustomerSatisfactionRated (1–5, field
// "satisfaction").
func (c *Customer) RateSatisfaction(satisfaction int, at time.Time) error {
	if changed, err := c.rating("satisfaction", satisfaction, c.satisfaction); err != nil || !changed {
		return err
	}
	c.record(CustomerSatisfactionRated{CustomerID: c.id, From: c.satisfaction, To: satisfaction})
	return nil
}

// AssignOwner records CustomerOwnerAssigned (field "ownerId", required).
func (c *Customer) AssignOwner(ownerID string, at time.Time) error {
	if err := c.mustExist(); err != nil {
		return err
	}
	ownerID = trim(ownerID)
	var fe fieldErrors
	fe.required("ownerId", ownerID, MaxShortText)
	if err := fe.err(); err != nil {
		return err
	}
	if ownerID == c.ownerID {
		return nil
	}
	c.record(CustomerOwnerAssigned{CustomerID: c.id, PreviousOwnerID: c.ownerID, OwnerID: ownerID})
	return nil
}

// AddContact records ContactAdded. The caller chooses the contact id (e.g.
// derived from the command's idempotency key); adding an id that exists
// with the same fields records nothing, with other fields is a conflict.
func (c *Customer) AddContact(contactID uuid.UUID, p Contact, at time.Time) error {
	if err := c.mustExist(); err != nil {
		return err
	}
	var fe fieldErrors
	if contactID == uuid.Nil {
		fe.add("contactId", "is required")
	}
	p.normalize(&fe)
	if err := fe.err(); err != nil {
		return err
	}
	if old, ok := c.Contact(contactID); ok {
		if old.Contact == p {
			return nil
		}
		return conflict("contact %s already exists", contactID)
	}
	c.record(ContactAdded{CustomerID: c.id, ContactID: contactID, Contact: p})
	return nil
}

// ChangeContact records ContactChanged with the fields that really change.
// An unknown contact is KindNotFound.
func (c *Customer) ChangeContact(contactID uuid.UUID, p ContactChange, at time.Time) error {
	if err := c.mustExist(); err != nil {
		return err
	}
	old, ok := c.Contact(contactID)
	if !ok {
		return notFound("contact %s not found", contactID)
	}
	next := old.Contact
	for i, v := range p.ptrs() {
		if v != nil {
			*contactFields[i].get(&next) = *v
		}
	}
	var fe fieldErrors
	next.normalize(&fe)
	if err := fe.err(); err != nil {
		return err
	}
	var changes []FieldChange
	for _, f := range contactFields {
		a, b := *f.get(&old.Contact), *f.get(&next)
		if a != b {
			changes = append(changes, FieldChange{Field: f.name, From: a, To: b})
		}
	}
	if len(changes) == 0 {
		return nil
	}
	c.record(ContactChanged{CustomerID: c.id, ContactID: contactID, Changes: changes, Contact: next})
	return nil
}

// RemoveContact records ContactRemoved. An unknown contact is KindNotFound.
func (c *Customer) RemoveContact(contactID uuid.UUID, at time.Time) error {
	if err := c.mustExist(); err != nil {
		return err
	}
	old, ok := c.Contact(contactID)
	if !ok {
		return notFound("contact %s not found", contactID)
	}
	c.record(ContactRemoved{CustomerID: c.id, ContactID: contactID, Name: old.Name})
	return nil
}

// LogInteraction records InteractionLogged. The caller chooses the
// interaction id. Channel must be one of Channels; occurredAt and summary
// are required; contactId must name a contact of this customer.
func (c *Customer) LogInteraction(interactionID uuid.UUID, p Interaction, at time.Time) error {
	if err := c.mustExist(); err != nil {
		return err
	}
	var fe fieldErrors
	if interactionID == uuid.Nil {
		fe.add("interactionId", "is required")
	}
	p.Channel = trim(p.Channel)
	fe.oneOf("channel", p.Channel, Channels)
	if p.OccurredAt.IsZero() {
		fe.add("occurredAt", "is required")
	}
	fe.notFuture("occurredAt", p.OccurredAt, at)
	p.Place = trim(p.Place)
	fe.maxLen("place", p.Place, MaxShortText)
	p.Summary = trim(p.Summary)
	fe.required("summary", p.Summary, 1000)
	p.Detail = trim(p.Detail)
	fe.maxLen("detail", p.Detail, MaxLongText)
	if p.ContactID != nil {
		if _, ok := c.Contact(*p.ContactID); !ok {
			fe.add("contactId", "is not a contact of this customer")
		}
	}
	if err := fe.err(); err != nil {
		return err
	}
	c.record(InteractionLogged{
		CustomerID:    c.id,
		InteractionID: interactionID,
		Channel:       p.Channel,
		OccurredAt:    utc(p.OccurredAt),
		Place:         p.Place,
		Summary:       p.Summary,
		Detail:        p.Detail,
		ContactID:     p.ContactID,
	})
	return nil
}

func sameUTCDay(a, b time.Time) bool {
	if a.IsZero() || b.IsZero() {
		return false
	}
	ay, am, ad := a.UTC().Date()
	by, bm, bd := b.UTC().Date()
	return ay == by && am == bm && ad == bd
}

// RaiseChurnWarning records ChurnWarningRaised and puts the customer at
// risk. It is idempotent per customer and UTC day: a second warning on the
// same day records nothing. A lost customer cannot be warned (KindConflict).
func (c *Customer) RaiseChurnWarning(p ChurnWarning, at time.Time) error {
	if err := c.mustExist(); err != nil {
		return err
	}
	var fe fieldErrors
	p.Why = trim(p.Why)
	fe.oneOf("why", p.Why, []string{ChurnWhyRule, ChurnWhyScore})
	if p.Score != nil {
		fe.rng("score", *p.Score, 0, 100)
	}
	for i, s := range p.Signals {
		if trim(s.Signal) == "" {
			fe.add("signals["+itoa(i)+"].signal", "is required")
		}
	}
	if err := fe.err(); err != nil {
		return err
	}
	if c.status == CustomerStatusLost {
		return conflict("customer is lost; reactivate it before raising a churn warning")
	}
	if sameUTCDay(c.lastWarning, at) {
		return nil
	}
	signals := slices.Clone(p.Signals)
	if signals == nil {
		signals = []ChurnSignal{}
	}
	c.record(ChurnWarningRaised{CustomerID: c.id, Why: p.Why, Score: p.Score, Signals: signals,
		PreviousStatus: c.status, RaisedAt: utc(at)})
	return nil
}

// DeferChurn records ChurnDeferred: a retention measure (field "measure",
// required) for an at-risk customer; repeatable. Other states: KindConflict.
func (c *Customer) DeferChurn(measure string, at time.Time) error {
	if err := c.mustExist(); err != nil {
		return err
	}
	measure = trim(measure)
	var fe fieldErrors
	fe.required("measure", measure, MaxLongText)
	if err := fe.err(); err != nil {
		return err
	}
	if c.status != CustomerStatusAtRisk {
		return conflict("customer is %s; only an at-risk customer's churn can be deferred", c.status)
	}
	c.record(ChurnDeferred{CustomerID: c.id, Measure: measure, DeferredAt: utc(at)})
	return nil
}

// ConfirmChurn records ChurnConfirmed (field "reason", required) and marks
// the customer lost. Allowed from active (the customer told us) and
// at_risk; a lost customer is KindConflict.
func (c *Customer) ConfirmChurn(reason string, at time.Time) error {
	if err := c.mustExist(); err != nil {
		return err
	}
	reason = trim(reason)
	var fe fieldErrors
	fe.required("reason", reason, MaxLongText)
	if err := fe.err(); err != nil {
		return err
	}
	if c.status == CustomerStatusLost {
		return conflict("customer is already lost")
	}
	c.record(ChurnConfirmed{CustomerID: c.id, Reason: reason, PreviousStatus: c.status, ConfirmedAt: utc(at)})
	return nil
}

// ClearChurnWarning records ChurnWarningCleared: at_risk → active. On an
// active customer it records nothing; on a lost one it is KindConflict
// (use Reactivate).
func (c *Customer) ClearChurnWarning(reason string, at time.Time) error {
	if err := c.mustExist(); err != nil {
		return err
	}
	reason = trim(reason)
	var fe fieldErrors
	fe.maxLen("reason", reason, MaxLongText)
	if err := fe.err(); err != nil {
		return err
	}
	switch c.status {
	case CustomerStatusActive:
		return nil
	case CustomerStatusLost:
		return conflict("customer is lost; reactivate it instead")
	}
	c.record(ChurnWarningCleared{CustomerID: c.id, Reason: reason, ClearedAt: utc(at)})
	return nil
}

// Reactivate records CustomerReactivated: lost or at_risk → active (field
// "reason" optional). On an active customer it records nothing.
func (c *Customer) Reactivate(reason string, at time.Time) error {
	if err := c.mustExist(); err != nil {
		return err
	}
	reason = trim(reason)
	var fe fieldErrors
	fe.maxLen("reason", reason, MaxLongText)
	if err := fe.err(); err != nil {
		return err
	}
	if c.status == CustomerStatusActive {
		return nil
	}
	c.record(CustomerReactivated{CustomerID: c.id, Reason: reason, PreviousStatus: c.status, ReactivatedAt: utc(at)})
	return nil
}
