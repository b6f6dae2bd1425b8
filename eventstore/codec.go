package eventstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
)

// Codec errors, matched with errors.Is.
var (
	// ErrUnknownEventType: no type of that name is registered. Callers
	// skip such events with a warning (they may come from a newer version or
	// another application); they are never a reason to crash.
	ErrUnknownEventType = errors.New("eventstore: unknown event type")
	// ErrUnregisteredType: Encode was given a Go type that was not registered.
	ErrUnregisteredType = errors.New("eventstore: Go type not registered in codec")
	// ErrMalformedEvent: the stored data (or its upcasting) could not be
	// decoded; a permanent failure for that event.
	ErrMalformedEvent = errors.New("eventstore: malformed event data")
)

// Upcaster rewrites the JSON data of one schema version into the next one
// (fromVersion → fromVersion+1).
type Upcaster func(json.RawMessage) (json.RawMessage, error)

type codecEntry struct {
	name      string
	version   int
	newFn     func() any
	goType    reflect.Type
	upcasters map[int]Upcaster // fromVersion → upcaster
	// fast decodes data of the current schema version without reflection;
	// ok false sends Decode down the encoding/json path (nil: none).
	fast func(data []byte) (v any, ok bool)
}

// Codec is the explicit table of event types: stable names, their current
// schema version, how to make a value to decode into, and upcasters for
// older versions. Names are never derived from Go type names.
//
// Register everything at start-up; a Codec is then safe for concurrent use.
// The zero Codec is not usable; call NewCodec.
type Codec struct {
	mu     sync.RWMutex
	byName map[string]*codecEntry
	byType map[reflect.Type]*codecEntry
}

// NewCodec returns an empty codec.
func NewCodec() *Codec {
	return &Codec{byName: map[string]*codecEntry{}, byType: map[reflect.Type]*codecEntry{}}
}

// Register adds an event type. typeName is the stored, stable name (e.g.
// "CustomerRegistered"); schemaVersion (≥ 1) is the version Encode writes and
// Decode upcasts to; newFn returns a fresh value to decode into: a T or a *T.
// Decode returns a value of exactly the Go type newFn returns; Encode
// accepts both T and *T.
//
// Register panics on programmer errors (empty or duplicate name, version < 1,
// nil newFn or nil value, a Go type registered under two names), like
// http.ServeMux does for duplicate patterns.
func (c *Codec) Register(typeName string, schemaVersion int, newFn func() any) {
	if typeName == "" {
		panic("eventstore: Codec.Register: empty type name")
	}
	if schemaVersion < 1 {
		panic(fmt.Sprintf("eventstore: Codec.Register(%q): schema version %d < 1", typeName, schemaVersion))
	}
	if newFn == nil {
		panic(fmt.Sprintf("eventstore: Codec.Register(%q): nil newFn", typeName))
	}
	v := newFn()
	if v == nil {
		panic(fmt.Sprintf("eventstore: Codec.Register(%q): newFn returned nil", typeName))
	}
	rt := reflect.TypeOf(v)
	if rt.Kind() == reflect.Pointer && reflect.ValueOf(v).IsNil() {
		panic(fmt.Sprintf("eventstore: Codec.Register(%q): newFn returned a nil %v", typeName, rt))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, dup := c.byName[typeName]; dup {
		panic(fmt.Sprintf("eventstore: Codec.Register(%q): already registered (Go type %v)", typeName, e.goType))
	}
	keys := []reflect.Type{rt}
	if rt.Kind() == reflect.Pointer {
		keys = append(keys, rt.Elem())
	} else {
		keys = append(keys, reflect.PointerTo(rt))
	}
	for _, k := range keys {
		if e, dup := c.byType[k]; dup {
			panic(fmt.Sprintf("eventstore: Codec.Register(%q): Go type %v is already registered as %q", typeName, k, e.name))
		}
	}
	e := &codecEntry{name: typeName, version: schemaVersion, newFn: newFn, goType: rt, upcasters: map[int]Upcaster{}}
	c.byName[typeName] = e
	for _, k := range keys {
		c.byType[k] = e
	}
}

// RegisterUpcaster adds the upcaster from fromVersion to fromVersion+1 of a
// registered type. Decode chains upcasters from the stored version to the
// registered one. It panics on programmer errors (unknown type, fromVersion
// outside [1, current), duplicate, nil fn).
func (c *Codec) RegisterUpcaster(typeName string, fromVersion int, fn func(json.RawMessage) (json.RawMessage, error)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byName[typeName]
	if !ok {
		panic(fmt.Sprintf("eventstore: Codec.RegisterUpcaster(%q): type not registered", typeName))
	}
	if fn == nil {
		panic(fmt.Sprintf("eventstore: Codec.RegisterUpcaster(%q, %d): nil upcaster", typeName, fromVersion))
	}
	if fromVersion < 1 || fromVersion >= e.version {
		panic(fmt.Sprintf("eventstore: Codec.RegisterUpcaster(%q, %d): version must be in [1, %d)", typeName, fromVersion, e.version))
	}
	if _, dup := e.upcasters[fromVersion]; dup {
		panic(fmt.Sprintf("eventstore: Codec.RegisterUpcaster(%q, %d): already registered", typeName, fromVersion))
	}
	e.upcasters[fromVersion] = fn
}

// RegisterFastDecoder adds a decoder that Decode tries first for data of
// typeName at its current schema version (older versions are upcast and
// take the encoding/json path). fn returns ok false for anything it does
// not decode exactly as encoding/json would, and Decode then takes the
// encoding/json path: so fn decides speed, never the result or the error. A
// panicking fn counts as ok false. T must be the Go type the registered
// newFn returns (Decode's results keep exactly that type).
//
// It is a function, not a method, because methods cannot have type
// parameters. It panics on programmer errors (unknown type, nil fn, T not
// the registered Go type, a second fast decoder), like Register.
func RegisterFastDecoder[T any](c *Codec, typeName string, fn func(data []byte) (T, bool)) {
	if fn == nil {
		panic(fmt.Sprintf("eventstore: RegisterFastDecoder(%q): nil decoder", typeName))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byName[typeName]
	if !ok {
		panic(fmt.Sprintf("eventstore: RegisterFastDecoder(%q): type not registered", typeName))
	}
	if rt := reflect.TypeFor[T](); rt != e.goType {
		panic(fmt.Sprintf("eventstore: RegisterFastDecoder(%q): decoder returns %v, the type is registered with %v", typeName, rt, e.goType))
	}
	if e.fast != nil {
		panic(fmt.Sprintf("eventstore: RegisterFastDecoder(%q): already registered", typeName))
	}
	e.fast = func(data []byte) (any, bool) {
		v, ok := fn(data)
		if !ok {
			return nil, false
		}
		return v, true
	}
}

// Types returns the registered type names, sorted.
func (c *Codec) Types() []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	names := make([]string, 0, len(c.byName))
	for n := range c.byName {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// SchemaVersion returns the current schema version of a registered type.
func (c *Codec) SchemaVersion(typeName string) (int, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	e, ok := c.byName[typeName]
	if !ok {
		return 0, false
	}
	return e.version, true
}

// HasFastDecoder reports whether a fast decoder is registered for typeName
// (RegisterFastDecoder).
func (c *Codec) HasFastDecoder(typeName string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	e, ok := c.byName[typeName]
	return ok && e.fast != nil
}

// Known reports whether typeName is registered.
func (c *Codec) Known(typeName string) bool {
	_, ok := c.SchemaVersion(typeName)
	return ok
}

// TypeName returns the registered name of v's Go type (T or *T).
func (c *Codec) TypeName(v any) (string, error) {
	e, err := c.entryFor(v)
	if err != nil {
		return "", err
	}
	return e.name, nil
}

func (c *Codec) entryFor(v any) (*codecEntry, error) {
	if v == nil {
		return nil, fmt.Errorf("%w: nil", ErrUnregisteredType)
	}
	c.mu.RLock()
	e, ok := c.byType[reflect.TypeOf(v)]
	c.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: %T", ErrUnregisteredType, v)
	}
	return e, nil
}

// Encode returns the registered name and schema version of v's Go type and
// v's JSON data. v must be of a registered type (T or *T).
func (c *Codec) Encode(v any) (typeName string, schemaVersion int, data []byte, err error) {
	e, err := c.entryFor(v)
	if err != nil {
		return "", 0, nil, err
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer && rv.IsNil() {
		return "", 0, nil, fmt.Errorf("eventstore: encode %q: nil %T", e.name, v)
	}
	data, err = json.Marshal(v)
	if err != nil {
		return "", 0, nil, fmt.Errorf("eventstore: encode %q: %w", e.name, err)
	}
	return e.name, e.version, data, nil
}

// NewPending encodes v into a Pending event with the given metadata; the
// metadata's SchemaVersion is set to the registered version. Set
// IdempotencyKey on the result if it differs from meta.CommandID.
func (c *Codec) NewPending(v any, meta Metadata) (Pending, error) {
	name, version, data, err := c.Encode(v)
	if err != nil {
		return Pending{}, err
	}
	meta.SchemaVersion = version
	return Pending{Type: name, Data: data, Metadata: meta}, nil
}

// Decode decodes stored data of a type and schema version (0 is read as 1,
// for envelopes without a version), upcasting it to the registered version
// first. It returns a value of the Go type the registered newFn returns.
// Data of the current version goes to the type's fast decoder first, if
// one is registered (RegisterFastDecoder), then to encoding/json.
//
// Errors: ErrUnknownEventType for unregistered names (skip the event with a
// warning), ErrMalformedEvent when the data, a missing upcaster, a failing
// upcaster or a version newer than the registered one prevents decoding.
// Decode never panics on stored input.
func (c *Codec) Decode(typeName string, schemaVersion int, data []byte) (any, error) {
	c.mu.RLock()
	e, ok := c.byName[typeName]
	var fast func([]byte) (any, bool)
	if ok {
		fast = e.fast
	}
	c.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownEventType, typeName)
	}
	if schemaVersion == 0 {
		schemaVersion = 1
	}
	if schemaVersion < 0 || schemaVersion > e.version {
		return nil, fmt.Errorf("%w: %q schema version %d, this codec knows up to %d", ErrMalformedEvent, typeName, schemaVersion, e.version)
	}
	if fast != nil && schemaVersion == e.version {
		if v, ok := callFast(fast, data); ok {
			return v, nil
		}
	}
	raw := json.RawMessage(data)
	for v := schemaVersion; v < e.version; v++ {
		c.mu.RLock()
		up := e.upcasters[v]
		c.mu.RUnlock()
		if up == nil {
			return nil, fmt.Errorf("%w: %q has no upcaster from schema version %d", ErrMalformedEvent, typeName, v)
		}
		next, err := callUpcaster(up, raw)
		if err != nil {
			return nil, fmt.Errorf("%w: %q upcasting from schema version %d: %v", ErrMalformedEvent, typeName, v, err)
		}
		raw = next
	}
	tmpl := e.newFn()
	rt := reflect.TypeOf(tmpl)
	if rt != e.goType {
		return nil, fmt.Errorf("eventstore: decode %q: newFn returned %v, registered with %v", typeName, rt, e.goType)
	}
	var target reflect.Value // a pointer to decode into
	if rt.Kind() == reflect.Pointer {
		target = reflect.ValueOf(tmpl)
		if target.IsNil() {
			return nil, fmt.Errorf("eventstore: decode %q: newFn returned a nil %v", typeName, rt)
		}
	} else {
		target = reflect.New(rt)
		target.Elem().Set(reflect.ValueOf(tmpl))
	}
	if err := json.Unmarshal(raw, target.Interface()); err != nil {
		return nil, fmt.Errorf("%w: %q: %v", ErrMalformedEvent, typeName, err)
	}
	if rt.Kind() == reflect.Pointer {
		return target.Interface(), nil
	}
	return target.Elem().Interface(), nil
}

// callUpcaster shields Decode from panicking upcasters: a bad upcaster
// makes the event undecodable, not the process crash.
func callUpcaster(up Upcaster, in json.RawMessage) (out json.RawMessage, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("upcaster panicked: %v", r)
		}
	}()
	return up(in)
}

// callFast shields Decode from a panicking fast decoder: the event takes
// the encoding/json path, whose result does not depend on the fast decoder.
func callFast(fast func([]byte) (any, bool), data []byte) (v any, ok bool) {
	defer func() {
		if recover() != nil {
			v, ok = nil, false
		}
	}()
	return fast(data)
}

// DecodeRecorded decodes a recorded event's data using its type and the
// schema version from its metadata. An event whose metadata is malformed is
// reported as ErrMalformedEvent.
func (c *Codec) DecodeRecorded(r Recorded) (any, error) {
	if r.MetadataErr != nil {
		if !c.Known(r.Type) {
			return nil, fmt.Errorf("%w: %q", ErrUnknownEventType, r.Type)
		}
		return nil, fmt.Errorf("%w: %q %s@%d: %v", ErrMalformedEvent, r.Type, r.Stream, r.Revision, r.MetadataErr)
	}
	v, err := c.Decode(r.Type, r.Metadata.SchemaVersion, r.Data)
	if err != nil {
		return nil, fmt.Errorf("%s@%d: %w", r.Stream, r.Revision, err)
	}
	return v, nil
}
