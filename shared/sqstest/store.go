package sqstest

import (
	"container/heap"
	"time"
)

// The queue's messages: those visible in a FIFO, those in flight (or
// delayed) in a heap by the time they become visible again, and the latest
// receipt handle of each message in flight. Every operation is O(log n), so
// a backlog of a hundred thousand messages drains at the speed of the
// calls, not of the bookkeeping.

type store struct {
	ready     []*message // visible, oldest first; ready[head:] are live
	head      int
	flight    flightHeap
	byReceipt map[string]*message
}

func (st *store) push(m *message, now time.Time) {
	if now.Before(m.visibleAt) {
		heap.Push(&st.flight, m)
		return
	}
	st.ready = append(st.ready, m)
}

// requeue makes visible again the messages whose time in flight is over.
func (st *store) requeue(now time.Time) {
	for st.flight.Len() > 0 && !now.Before(st.flight[0].visibleAt) {
		m := heap.Pop(&st.flight).(*message)
		if m.receipt != "" {
			delete(st.byReceipt, m.receipt)
			m.receipt = ""
		}
		st.ready = append(st.ready, m)
	}
}

// pop takes the oldest visible message, or nil.
func (st *store) pop() *message {
	if st.head == len(st.ready) {
		return nil
	}
	m := st.ready[st.head]
	st.ready[st.head] = nil
	st.head++
	if st.head > 4096 && st.head*2 > len(st.ready) {
		st.ready = append(st.ready[:0], st.ready[st.head:]...)
		st.head = 0
	}
	return m
}

// hold puts a received message in flight under a new receipt handle.
func (st *store) hold(m *message, receipt string, until time.Time) {
	if st.byReceipt == nil {
		st.byReceipt = map[string]*message{}
	}
	m.receipt, m.visibleAt = receipt, until
	st.byReceipt[receipt] = m
	heap.Push(&st.flight, m)
}

// remove deletes the message in flight under receipt; an unknown or
// outdated handle removes nothing.
func (st *store) remove(receipt string) {
	m := st.byReceipt[receipt]
	if m == nil {
		return
	}
	delete(st.byReceipt, receipt)
	heap.Remove(&st.flight, m.index)
}

// inFlight is the message in flight under receipt, or nil.
func (st *store) inFlight(receipt string) *message { return st.byReceipt[receipt] }

// maxVisibility is SQS's limit on a message's visibility, counted from the
// receive that put it in flight.
const maxVisibility = 12 * time.Hour

// setVisibility changes when a message in flight becomes visible.
func (st *store) setVisibility(receipt string, at time.Time) bool {
	m := st.byReceipt[receipt]
	if m == nil {
		return false
	}
	m.visibleAt = at
	heap.Fix(&st.flight, m.index)
	return true
}

// counts are the visible messages, those in flight, and those delayed
// (held back since they were sent: no receipt yet).
func (st *store) counts() (visible, inFlight, delayed int) {
	for _, m := range st.flight {
		if m.receipt == "" {
			delayed++
		}
	}
	return len(st.ready) - st.head, st.flight.Len() - delayed, delayed
}

// all lists every message, visible ones first.
func (st *store) all() []*message {
	out := append([]*message(nil), st.ready[st.head:]...)
	return append(out, st.flight...)
}

type flightHeap []*message

func (h flightHeap) Len() int           { return len(h) }
func (h flightHeap) Less(i, j int) bool { return h[i].visibleAt.Before(h[j].visibleAt) }
func (h flightHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *flightHeap) Push(x any) {
	m := x.(*message)
	m.index = len(*h)
	*h = append(*h, m)
}
func (h *flightHeap) Pop() any {
	old := *h
	m := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	m.index = -1
	return m
}
