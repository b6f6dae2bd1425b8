package readmodels

import (
	"maps"
	"reflect"
	"sync"
)

// Deep copies of documents. A document a DocTx hands back is shared and
// immutable (the batch or the track's cache still holds it), so getDoc
// gives the handler a deep copy it may change: maps, slices and pointers
// reachable through exported fields are copied; strings and unexported
// fields (time.Time, domain.Decimal: plain values) are shared, which is
// safe because they are never changed in place; so are Amounts, which are
// immutable.

// deepCopyInto sets *dst to a deep copy of src; dst must be a non-nil
// pointer and src a value of dst's element type or a pointer to one. It
// reports false (copying nothing) when the types do not fit.
func deepCopyInto(dst, src any) bool {
	// The report documents change with every event: copied by hand
	// (TestHandClones checks that nothing stays shared).
	switch s := src.(type) {
	case *Overview:
		if d, ok := dst.(*Overview); ok && d != nil {
			*d = s.clone()
			return true
		}
	case *Composition:
		if d, ok := dst.(*Composition); ok && d != nil {
			*d = s.clone()
			return true
		}
	case *ChurnReport:
		if d, ok := dst.(*ChurnReport); ok && d != nil {
			*d = s.clone()
			return true
		}
	}
	d := reflect.ValueOf(dst)
	if d.Kind() != reflect.Pointer || d.IsNil() {
		return false
	}
	s := reflect.ValueOf(src)
	if s.Kind() == reflect.Pointer && s.Type() == d.Type() {
		if s.IsNil() {
			return false
		}
		s = s.Elem()
	}
	if s.Type() != d.Type().Elem() {
		return false
	}
	deepCopy(d.Elem(), s)
	return true
}

// deepCopy sets dst (settable, of src's type) to a deep copy of src.
func deepCopy(dst, src reflect.Value) {
	t := src.Type()
	if !hasRefs(t) {
		dst.Set(src)
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		if src.IsNil() {
			dst.SetZero()
			return
		}
		n := reflect.New(t.Elem())
		deepCopy(n.Elem(), src.Elem())
		dst.Set(n)
	case reflect.Slice:
		if src.IsNil() {
			dst.SetZero()
			return
		}
		n := reflect.MakeSlice(t, src.Len(), src.Len())
		if hasRefs(t.Elem()) {
			for i := range src.Len() {
				deepCopy(n.Index(i), src.Index(i))
			}
		} else {
			reflect.Copy(n, src)
		}
		dst.Set(n)
	case reflect.Map:
		if src.IsNil() {
			dst.SetZero()
			return
		}
		n := reflect.MakeMapWithSize(t, src.Len())
		deepVal := hasRefs(t.Elem())
		var tmp reflect.Value
		if deepVal {
			tmp = reflect.New(t.Elem()).Elem()
		}
		for it := src.MapRange(); it.Next(); {
			v := it.Value()
			if deepVal {
				deepCopy(tmp, v)
				v = tmp
			}
			n.SetMapIndex(it.Key(), v)
		}
		dst.Set(n)
	case reflect.Array:
		for i := range src.Len() {
			deepCopy(dst.Index(i), src.Index(i))
		}
	case reflect.Struct:
		dst.Set(src)
		for _, i := range refFields(t) {
			deepCopy(dst.Field(i), src.Field(i))
		}
	default: // interfaces: documents keep no mutable values behind them
		dst.Set(src)
	}
}

var refsCache sync.Map // reflect.Type → typeRefs

type typeRefs struct {
	has    bool
	fields []int // struct: the exported fields that hold references
}

// hasRefs reports whether values of t reach maps, slices, pointers or
// interfaces through exported fields (and so need copying beyond a plain
// assignment).
func hasRefs(t reflect.Type) bool { return refsOf(t).has }

func refFields(t reflect.Type) []int { return refsOf(t).fields }

func refsOf(t reflect.Type) typeRefs {
	if r, ok := refsCache.Load(t); ok {
		return r.(typeRefs)
	}
	var r typeRefs
	switch {
	case t == amountsType:
		// Immutable (see Amounts): shared, not copied.
	case t.Kind() == reflect.Map, t.Kind() == reflect.Slice, t.Kind() == reflect.Pointer, t.Kind() == reflect.Interface:
		r.has = true
	case t.Kind() == reflect.Array:
		r.has = hasRefs(t.Elem())
	case t.Kind() == reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			if f.IsExported() && hasRefs(f.Type) {
				r.fields = append(r.fields, i)
			}
		}
		r.has = len(r.fields) > 0
	}
	refsCache.Store(t, r)
	return r
}

var amountsType = reflect.TypeFor[Amounts]()

func (o *Overview) clone() Overview {
	c := *o
	if o.AsOf != nil {
		at := *o.AsOf
		c.AsOf = &at
	}
	// Amounts are immutable (shared); OrderMonth holds only them and ints.
	c.CustomersByStatus = maps.Clone(o.CustomersByStatus)
	c.OrdersByMonth = maps.Clone(o.OrdersByMonth)
	c.InteractionsByMonth = maps.Clone(o.InteractionsByMonth)
	return c
}

func (c *Composition) clone() Composition {
	n := *c
	n.ByLevel, n.ByCredit, n.BySatisfaction = maps.Clone(c.ByLevel), maps.Clone(c.ByCredit), maps.Clone(c.BySatisfaction)
	n.ByRegion, n.ByStatus = maps.Clone(c.ByRegion), maps.Clone(c.ByStatus)
	return n
}

func (r *ChurnReport) clone() ChurnReport {
	n := *r
	n.ByMonth = maps.Clone(r.ByMonth)
	return n
}
