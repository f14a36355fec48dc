package splinter

/*
#include "gospl.h"
*/
import "C"

import (
	"context"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// Groups is a mask of signal groups (bit g = group g, 0..63).
type Groups uint64

// Group is the mask of one group.
func Group(g uint) Groups { return Groups(1) << g }

// NumGroups is the number of signal groups.
const NumGroups = C.SPL_GROUPS

// Watch adds groups to the key's watch mask: its changes pulse them.  The
// mask belongs to the key (Unset clears it).
func (s *Store) Watch(key string, groups Groups) error {
	return s.keyop("watch", key, 5, uint64(groups))
}

// Unwatch takes groups out of the key's watch mask.
func (s *Store) Unwatch(key string, groups Groups) error {
	return s.keyop("unwatch", key, 6, uint64(groups))
}

// Bump pulses the key's groups without writing it.
func (s *Store) Bump(key string) error { return s.keyop("bump", key, 7, 0) }

// Bind makes keys carrying label bit (0..63) pulse groups.
func (s *Store) Bind(bit uint, groups Groups) error {
	if s.s == nil {
		return s.closed("bind", "")
	}
	return mkerr("bind", "", C.spl_bind(s.s, C.unsigned(bit), C.uint64_t(groups)))
}

// Unbind undoes Bind for groups.
func (s *Store) Unbind(bit uint, groups Groups) error {
	if s.s == nil {
		return s.closed("unbind", "")
	}
	return mkerr("unbind", "", C.spl_unbind(s.s, C.unsigned(bit), C.uint64_t(groups)))
}

// Bindings returns the groups label bit pulses.
func (s *Store) Bindings(bit uint) (Groups, error) {
	if s.s == nil {
		return 0, s.closed("bindings", "")
	}
	var g C.uint64_t
	rc := C.spl_bind_get(s.s, C.unsigned(bit), &g)
	return Groups(g), mkerr("bindings", "", rc)
}

// Signal pulses groups directly (no key).
func (s *Store) Signal(groups Groups) error {
	if s.s == nil {
		return s.closed("signal", "")
	}
	return mkerr("signal", "", C.spl_signal(s.s, C.uint64_t(groups)))
}

// Pulses is a group's pulse counter (pulses made while it had a subscriber).
func (s *Store) Pulses(group uint) (uint64, error) {
	if s.s == nil {
		return 0, s.closed("pulses", "")
	}
	var c C.uint64_t
	rc := C.spl_pulses(s.s, C.unsigned(group), &c)
	return uint64(c), mkerr("pulses", "", rc)
}

// SignalRepair sweeps waiter records of processes that died while
// waiting; returns how many.
func (s *Store) SignalRepair() (int, error) {
	if s.s == nil {
		return 0, s.closed("signalRepair", "")
	}
	rc := C.spl_signal_repair(s.s)
	if rc < 0 {
		return 0, mkerr("signalRepair", "", rc)
	}
	return int(rc), nil
}

// waitSlice bounds one spl_key_wait so that ctx is seen: the goroutine
// sleeps in the kernel (a futex) and looks at ctx between slices.
const waitSlice = 100 * time.Millisecond

// Wait blocks until the key's epoch moves past epoch (pass the epoch last
// seen, from Meta; an older one returns at once) and returns the new
// epoch.  ErrNotFound if the key is absent or gets deleted; ctx.Err() when
// ctx ends first.  It sleeps in spl_key_wait, in slices of at most 100 ms
// so that a cancelled ctx is seen: never a busy poll.
func (s *Store) Wait(ctx context.Context, key string, epoch uint64) (uint64, error) {
	for {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		if s.s == nil {
			return 0, s.closed("wait", key)
		}
		slice := waitSlice
		if dl, ok := ctx.Deadline(); ok {
			if left := time.Until(dl); left < slice {
				slice = left
			}
			if slice <= 0 {
				return 0, context.DeadlineExceeded
			}
		}
		var out C.uint64_t
		rc := C.gospl_key_wait(s.s, key, C.uint64_t(epoch), C.int64_t(slice.Nanoseconds()), &out)
		if rc == 0 {
			return uint64(out), nil
		}
		if rc != C.SPL_ETIMEDOUT {
			return 0, mkerr("wait", key, rc)
		}
	}
}

// EventKind says what happened to a key.
type EventKind int

const (
	Changed  EventKind = C.SPL_EV_CHANGED // written (value, metadata, vector)
	Deleted  EventKind = C.SPL_EV_DELETED // unset
	Bumped   EventKind = C.SPL_EV_BUMPED  // Bump
	Signaled EventKind = C.SPL_EV_SIGNAL  // Signal: no key
	Unknown  EventKind = C.SPL_EV_UNKNOWN // the slot has moved on: the key is no longer known
	Overflow EventKind = 100              // events were lost (the feed lapped this reader): rescan
)

func (k EventKind) String() string {
	switch k {
	case Changed:
		return "changed"
	case Deleted:
		return "deleted"
	case Bumped:
		return "bumped"
	case Signaled:
		return "signal"
	case Unknown:
		return "unknown"
	case Overflow:
		return "overflow"
	}
	return "?"
}

// Event is one change that pulsed a subscribed group.
type Event struct {
	Kind   EventKind
	Key    string // "" for Signaled, Unknown and Overflow
	Seq    uint64
	Epoch  uint64 // the slot's epoch after the change
	Groups Groups
	Slot   int // -1 when no slot
}

// Subscription follows signal groups.  Events arrive on C; it is closed
// when the subscription ends (Close, the context, or Store.Close).
//
// The delivering goroutine sleeps in Go's network poller on the
// subscription's descriptor (spl_sub_fd, an eventfd): no thread is held
// and nothing polls on a timer.  A slow reader holds the goroutine back,
// and the change feed may then lap it: an Overflow event says to rescan.
type Subscription struct {
	C <-chan Event

	store  *Store
	sub    *C.spl_sub
	file   *os.File
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex // spl_sub_* calls (one thread at a time)
	key    string     // Watch: this key only
	filter bool
	once   sync.Once
}

// Subscribe follows groups until ctx ends or Close.
func (s *Store) Subscribe(ctx context.Context, groups Groups) (*Subscription, error) {
	return s.subscribe(ctx, groups, "", false)
}

// WatchKey adds group to the key's watch mask (it stays there until
// Unwatch or the key is deleted) and returns a subscription to that group
// that delivers this key's events only.
func (s *Store) WatchKey(ctx context.Context, key string, group uint) (*Subscription, error) {
	u, err := s.subscribe(ctx, Group(group), key, true)
	if err != nil {
		return nil, err
	}
	if err := s.Watch(key, Group(group)); err != nil {
		u.Close()
		return nil, err
	}
	return u, nil
}

func (s *Store) subscribe(ctx context.Context, groups Groups, key string, filter bool) (*Subscription, error) {
	if s.s == nil {
		return nil, s.closed("subscribe", "")
	}
	var cs *C.spl_sub
	if rc := C.spl_sub_open(s.s, C.uint64_t(groups), &cs); rc < 0 {
		return nil, mkerr("subscribe", "", rc)
	}
	fd := C.spl_sub_fd(cs)
	if fd < 0 {
		C.spl_sub_close(cs)
		return nil, mkerr("subscribe", "", fd)
	}
	// A duplicate of the eventfd (non-blocking) for the runtime's poller;
	// the original stays the subscription's (spl_sub_close closes it).
	dup, err := syscall.Dup(int(fd))
	if err != nil {
		C.spl_sub_close(cs)
		return nil, &Error{Op: "subscribe", Code: Errno(-int(err.(syscall.Errno)))}
	}
	syscall.CloseOnExec(dup)
	ctx, cancel := context.WithCancel(ctx)
	ch := make(chan Event, 64)
	u := &Subscription{C: ch, store: s, sub: cs, file: os.NewFile(uintptr(dup), "splinter-subscription"),
		cancel: cancel, done: make(chan struct{}), key: key, filter: filter}
	s.mu.Lock()
	s.subs[u] = struct{}{}
	s.mu.Unlock()
	go func() {
		<-ctx.Done()
		u.file.SetReadDeadline(time.Unix(1, 0)) // wakes the reader
	}()
	go u.run(ctx, ch)
	return u, nil
}

func (u *Subscription) run(ctx context.Context, ch chan<- Event) {
	defer close(u.done)
	defer close(ch)
	key := make([]byte, u.store.keyMax+1)
	var buf [8]byte
	for {
		// Deliver what the feed holds, then sleep until the descriptor is
		// readable (a subscribed group pulsed).
		for {
			u.mu.Lock()
			var ev C.spl_event
			rc := C.gospl_sub_next(u.sub, &ev, (*C.char)(unsafe.Pointer(&key[0])), C.size_t(len(key)))
			u.mu.Unlock()
			if rc == C.SPL_ENOENT {
				break
			}
			var e Event
			switch {
			case rc == C.SPL_EOVERFLOW:
				e = Event{Kind: Overflow, Slot: -1}
			case rc < 0:
				return
			default:
				e = Event{Kind: EventKind(ev.kind), Seq: uint64(ev.seq), Epoch: uint64(ev.epoch),
					Groups: Groups(ev.groups), Slot: int(ev.slot)}
				if ev.slot == C.SPL_EV_NOSLOT {
					e.Slot = -1
				}
				if e.Kind != Signaled && e.Kind != Unknown {
					e.Key = string(key[:ev.key_len])
				}
			}
			if u.filter && e.Kind != Overflow && e.Key != u.key {
				continue
			}
			select {
			case ch <- e:
			case <-ctx.Done():
				return
			}
		}
		if _, err := u.file.Read(buf[:]); err != nil {
			return // deadline (ctx ended) or closed
		}
		u.mu.Lock()
		var fired C.uint64_t
		C.spl_sub_wait(u.sub, 0, &fired) // take the pulses in (a check, never a sleep)
		u.mu.Unlock()
	}
}

// Seen is the group's pulse counter as this subscription has taken it in
// (on each wake-up and on this call): the difference of two readings is
// the number of pulses of the group in between, across all processes.
func (u *Subscription) Seen(group uint) (uint64, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.sub == nil {
		return 0, &Error{Op: "seen", Code: ErrClosed}
	}
	var fired, c C.uint64_t
	C.spl_sub_wait(u.sub, 0, &fired)
	rc := C.spl_sub_seen(u.sub, C.unsigned(group), &c)
	return uint64(c), mkerr("seen", "", rc)
}

// Close ends the subscription: C is closed once the goroutine has left.
func (u *Subscription) Close() error {
	u.once.Do(func() {
		u.cancel()
		<-u.done
		u.file.Close()
		u.mu.Lock()
		C.spl_sub_close(u.sub)
		u.sub = nil
		u.mu.Unlock()
		u.store.mu.Lock()
		delete(u.store.subs, u)
		u.store.mu.Unlock()
	})
	return nil
}
