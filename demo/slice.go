package demo

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"container/heap"
	_ "embed"
	"encoding/csv"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"slices"
	"strings"
)

// embeddedSlice is CutSlice(online-retail.csv.gz, EmbeddedCustomers),
// gzip-compressed: the part of the UCI Online Retail data set (Daqing Chen,
// 2015, CC BY 4.0) that the demo imports when no file is given.
//
//go:embed online-retail-demo.csv.gz
var embeddedSlice []byte

// EmbeddedCustomers is how many customers the embedded slice holds.
const EmbeddedCustomers = 250

// EmbeddedSlice returns the embedded slice (gzip-compressed CSV, which the
// importer reads as it is).
func EmbeddedSlice() io.Reader { return bytes.NewReader(embeddedSlice) }

// customerRank orders the data set's customers for the slice: by the FNV-1a
// hash of their CustomerID text, so any prefix of the order is a spread-out
// sample (not the first customers of the year) and the slice of n customers
// contains the slice of every smaller n.
func customerRank(id string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(id))
	return h.Sum64()
}

// rankedID is an entry of the slice's bounded max-heap.
type rankedID struct {
	rank uint64
	id   string
}

type rankHeap []rankedID

func (h rankHeap) Len() int { return len(h) }
func (h rankHeap) Less(i, j int) bool {
	if h[i].rank != h[j].rank {
		return h[i].rank > h[j].rank
	}
	return h[i].id > h[j].id
}
func (h rankHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *rankHeap) Push(x any)   { *h = append(*h, x.(rankedID)) }
func (h *rankHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// slicedRow is a kept row with its position in the file.
type slicedRow struct {
	n   int
	rec []string
}

// CutSlice writes to dst, as plain CSV with the same header, every row of
// the Online Retail file src (plain or gzip-compressed CSV) that belongs to
// one of the customers customers ranked first by customerRank, in file
// order; guest rows (no CustomerID) are left out. It returns how many
// customers the slice holds (fewer than asked when the file has fewer). It
// holds only the rows of the customers currently ranked first in memory.
func CutSlice(src io.Reader, dst io.Writer, customers int) (int, error) {
	if customers < 1 {
		return 0, errors.New("demo: the slice needs at least 1 customer")
	}
	br := bufio.NewReaderSize(src, 256<<10)
	var in io.Reader = br
	if magic, _ := br.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return 0, fmt.Errorf("demo: gzip: %w", err)
		}
		defer gz.Close()
		in = gz
	}
	r := csv.NewReader(in)
	header, err := r.Read()
	if err != nil {
		return 0, fmt.Errorf("demo: read the header: %w", err)
	}
	col := -1
	for i, h := range header {
		if strings.TrimPrefix(strings.TrimSpace(h), "\uFEFF") == "CustomerID" {
			col = i
		}
	}
	if col < 0 {
		return 0, fmt.Errorf("demo: the header %q has no CustomerID column: not the Online Retail data set", strings.Join(header, ","))
	}
	r.FieldsPerRecord = len(header)
	r.ReuseRecord = true // a kept row is cloned

	var top rankHeap
	rows := map[string][]slicedRow{}
	for n := 0; ; n++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("demo: read: %w", err)
		}
		id := strings.TrimSpace(rec[col])
		if id == "" {
			continue
		}
		if _, ok := rows[id]; !ok {
			id = strings.Clone(id) // rec's memory is reused
			e := rankedID{customerRank(id), id}
			if len(top) == customers {
				worst := top[0]
				if !(e.rank < worst.rank || e.rank == worst.rank && e.id < worst.id) {
					continue
				}
				heap.Pop(&top)
				delete(rows, worst.id)
			}
			heap.Push(&top, e)
			rows[id] = nil
		}
		rows[id] = append(rows[id], slicedRow{n, slices.Clone(rec)})
	}
	if len(rows) == 0 {
		return 0, errors.New("demo: the file has no rows with a CustomerID")
	}
	var all []slicedRow
	for _, rs := range rows {
		all = append(all, rs...)
	}
	slices.SortFunc(all, func(a, b slicedRow) int { return a.n - b.n })
	w := csv.NewWriter(dst)
	if err := w.Write(header); err != nil {
		return 0, err
	}
	for _, row := range all {
		if err := w.Write(row.rec); err != nil {
			return 0, err
		}
	}
	w.Flush()
	return len(rows), w.Error()
}
