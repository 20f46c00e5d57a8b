package simd

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// spinWait is how long a team worker polls for its next job after finishing
// one, and how long the caller polls for the others' shares to finish, before
// parking. Waking a parked goroutine whose processor has gone idle costs tens
// of microseconds under a hypervisor, as much as a whole 256×256×256
// product; polling (with runtime.Gosched, so other goroutines still run)
// lets back-to-back products skip it.
const spinWait = 200 * time.Microsecond

// team is a set of persistent worker goroutines that parallel hands jobs to.
// One parallel call uses it at a time (mu); a concurrent call starts fresh
// goroutines instead.
var team struct {
	mu      sync.Mutex
	workers []*teamWorker
	awake   atomic.Int32 // workers not parked on their wake channel
}

// teamWorker runs share(id) of each job posted to it.
type teamWorker struct {
	id       int
	job      atomic.Pointer[parJob] // the job posted and not yet run, or nil
	sleeping atomic.Bool            // parked on wake
	wake     chan struct{}
}

// parJob is one parallel call: shares 0..len(claimed)-1 of f, each run once
// by whichever goroutine claims it first.
type parJob struct {
	f         func(t int)
	claimed   []atomic.Bool
	remaining atomic.Int32 // shares not yet finished
	waiting   atomic.Bool  // the caller is parked on done
	done      chan struct{}
}

// share runs f(t) unless another goroutine has claimed it; the goroutine
// finishing the last share wakes the caller if it is parked. The Dekker pair
// waiting/remaining (sequentially consistent atomics) ensures that either
// the caller sees remaining reach 0 or the last share sees waiting and sends.
func (j *parJob) share(t int) {
	if !j.claimed[t].CompareAndSwap(false, true) {
		return
	}
	j.f(t)
	if j.remaining.Add(-1) == 0 && j.waiting.CompareAndSwap(true, false) {
		j.done <- struct{}{}
	}
}

// parallel runs f(0), ..., f(threads-1) concurrently and returns when all
// have. Share t < threads-1 goes to team worker t, or a fresh goroutine when
// the team is busy; the caller runs share threads-1 and then, from the last
// down, every share no other goroutine has started yet, so that a worker
// slow to wake (its processor idle, or the machine busy) costs no more than
// running the product on one goroutine.
func parallel(threads int, f func(t int)) {
	if threads <= 1 {
		f(0)
		return
	}
	j := &parJob{f: f, claimed: make([]atomic.Bool, threads), done: make(chan struct{}, 1)}
	j.remaining.Store(int32(threads))
	if team.mu.TryLock() {
		defer team.mu.Unlock()
		for len(team.workers) < threads-1 {
			w := &teamWorker{id: len(team.workers), wake: make(chan struct{}, 1)}
			team.workers = append(team.workers, w)
			team.awake.Add(1)
			go w.run()
		}
		for _, w := range team.workers[:threads-1] {
			w.job.Store(j)
			if w.sleeping.CompareAndSwap(true, false) {
				w.wake <- struct{}{}
			}
		}
	} else {
		for t := 0; t < threads-1; t++ {
			go j.share(t)
		}
	}
	for t := threads - 1; t >= 0; t-- {
		j.share(t)
	}
	if spinUntil(func() bool { return j.remaining.Load() == 0 }) {
		return
	}
	j.waiting.Store(true)
	if j.remaining.Load() == 0 && j.waiting.CompareAndSwap(true, false) {
		return
	}
	<-j.done // sent by the last share, which took the flag
}

// teamAwake reports whether at least n team workers are polling for a job
// rather than parked: a hint, read without the team's lock.
func teamAwake(n int) bool { return int(team.awake.Load()) >= n }

// spinUntil polls cond for up to spinWait, yielding the processor every few
// polls, and reports whether it became true.
func spinUntil(cond func() bool) bool {
	var start time.Time
	for i := 0; ; i++ {
		if cond() {
			return true
		}
		if i%64 == 63 {
			if start.IsZero() {
				start = time.Now()
			} else if time.Since(start) > spinWait {
				return false
			}
		}
		if i%8 == 7 {
			runtime.Gosched()
		}
	}
}

// run is a team worker's loop: poll for a job, run its share, and park after
// spinWait without one. A job the caller has finished meanwhile (every share
// claimed) is a no-op.
func (w *teamWorker) run() {
	for {
		var j *parJob
		if !spinUntil(func() bool { j = w.job.Load(); return j != nil }) {
			team.awake.Add(-1)
			w.sleeping.Store(true)
			if w.job.Load() == nil {
				<-w.wake
			} else if !w.sleeping.CompareAndSwap(true, false) {
				<-w.wake // the poster took the flag and is sending
			}
			team.awake.Add(1)
			continue
		}
		j.share(w.id)
		w.job.CompareAndSwap(j, nil) // unless a newer job replaced it
	}
}
