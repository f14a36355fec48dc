/*
 * slot.pml - a Promela model of Splinter's slot protocol, store format 3
 * (docs/PROTOCOL.md, src/kv.c), checked with spin.  How to run it, what it
 * checks and what it abstracts: docs/model/README.md.
 * tests/model/run-spin.sh runs every check.
 *
 * The store: NSLOT = 2 slots and an index of NWORD = 4 words (index_words
 * = 2 x slots, probe_max = 3: the window is the whole index).  Every key
 * hashes to home 0, whose natural slot is slot 0.  There is one key, K:
 * every index tag that is not FREE carries K's fingerprint, so "fingerprint
 * matches" is always true and a key comparison is "the slot's key lane
 * holds K".  A word names a slot; the slot need not be the word's number
 * (an insert takes the natural slot first, then any free one, and the
 * first FREE word from home on).
 *
 * Shared state:
 *   owner[i]     slot.owner, the slot lock: 0 or the holder's id (= pid here)
 *   epoch[i]     slot.epoch, the seqlock (odd: a write is in progress)
 *   key[i]       the key lane: K, or NONE (key_len = 0: the slot is free)
 *   va[i], vb[i] the value, two words stored one after the other so that a
 *                torn read is observable; writer w stores the pair (w, w)
 *   wst[p]       index word p's state: FREE / PENDING / LIVE
 *   wsl[p]       the slot word p names (0 when FREE: the whole tag is 0)
 *   cnt, md      index[0]'s bucket: count and maxdist of home 0
 *   efloor       header.epoch_floor
 *   uown[r]      undo record r's owner (0: free)
 *   uarm[r]      its armed field: 0, or 1 + the slot it is armed for
 *   uep[r]       the even epoch the write it covers started from
 *   uval[r]      the value it saved (a whole pair: (uval, uval))
 *   dead[p]      ghost: process p has died (what spl__owner_alive answers)
 *   g_who[i], g_old[i]  ghosts for property (6): who is overwriting or
 *                deleting K in slot i (0: nobody), and K's value before
 *
 * Steps.  Every STEP(...) is one atomic step of the real code: one atomic
 * load, store or read-modify-write of shared memory (a CAS loop on one word
 * is one RMW), together with the private computation that follows it.
 * Before every STEP a killable process may die instead (crash budget
 * MAXCRASH): it stops there for good, holding whatever it held, so a
 * process can die between any two of its atomic steps.  A few loads are
 * merged into the step before or after them where that cannot hide an
 * interleaving; each is marked "merged" and README.md lists them.  The
 * model is sequentially consistent: it checks the protocol's logic, not
 * the C11 memory orders (README.md, "Abstractions").
 *
 * Model                        src/kv.c (src/internal.h for the seqlock)
 *   SET_TAG                    spl__ix_set_tag (seq_cst CAS loop)
 *   BUCKET_ADD / BUCKET_SUB    spl__bucket_add / spl__bucket_sub
 *   FLOOR_RAISE                spl__floor_raise
 *   WB / WE                    spl__write_begin / spl__write_end
 *   ACQ, UNLOCK                spl_cas_acquire(&sl->owner, ...), spl__unlock
 *   LINK                       spl__slot_link (merged into ACQ, see there)
 *   REPAIR                     spl__repair (+ spl__slot_clear)
 *   UNDO_SETTLE                spl__undo_settle
 *   UNDO_ARM, UNDO_DONE        spl__undo_arm, spl__undo_done
 *   RECLAIM                    spl__undo_reclaim
 *   RECOVER, RECOVERED         spl__recover (the CAS; what follows it)
 *   CONTENDED                  spl__contended (its 1 ms rate limit is a
 *                              nondeterministic "no check this time")
 *   LOCK                       spl__lock (two tries)
 *   FIND_LOCKED                spl__find_locked
 *   SCRUB                      spl__ix_scrub
 *   CLAIM                      spl__slot_claim
 *   INSERT                     spl__insert: claim, floor, write_begin, key,
 *                              value, word CAS (scrubbing PENDING words on
 *                              the way), bucket add, seq_cst fence + Dekker
 *                              scan, LIVE tag inside the write section,
 *                              write_end, release; back_off, drop_word,
 *                              release_slot; "key appeared" -> SPL__RETRY
 *   OVERWRITE                  spl__put's in-place path (SPL__PUT_SET)
 *   proctype writer            spl_set -> spl__put: find_locked, overwrite
 *                              in place, or insert; MAXATT attempts
 *   proctype deleter           spl_unset
 *   proctype reader            spl_get -> spl__find + spl__rd_get (TRIES
 *                              tries of read_begin / key / value /
 *                              read_retry)
 *   proctype recoverer         any later caller that meets the dead writer's
 *                              slot (spl__contended without the rate limit)
 *
 * Processes: writer W1 sets K to (1,1), writer W2 sets K to (2,2), the
 * deleter unsets K, the reader gets K, the recoverer stands for any later
 * caller; at most MAXCRASH of W1, W2, DEL (and the reader with KILL_READER)
 * die, each at any of its steps.
 *
 * Properties:
 *   (1) never two LIVE words (= two copies of K), and never two words
 *       naming one slot: SET_TAG
 *   (2) a value the reader returns is a pair one writer wrote whole (never
 *       torn, never one nobody wrote): reader
 *   (3) an epoch never decreases: SET_EPOCH
 *   (4) end state (timeout in the recoverer): no slot owned, no PENDING
 *       word, no odd epoch, what is LIVE is whole, every slot that holds a
 *       key is named by a LIVE word (no slot leaks), no undo record armed;
 *       or, with LTL_RECOVERY, the LTL formula "recovered" under weak
 *       fairness
 *   also: every LIVE word lies within maxdist, the bucket count is never
 *   below the number of LIVE keys (SET_TAG, BUCKET_SUB)
 *   (5) with CHECK_EPOCH_REUSE: a re-inserted K never shows an epoch K
 *       showed before (the epoch floor's promise; spl_cas relies on it)
 *   (6) a writer's death loses nothing (CHECK6, when the recovery of its
 *       slot ends): if W1/W2 died overwriting K, whose value was v, K is
 *       LIVE in that slot with v or with the dead writer's value, whole; if
 *       DEL died deleting K, K is LIVE there with v, whole, or gone
 *
 * Switches (spin -DNAME):
 *   MAXCRASH=n         how many processes may die (default 1)
 *   NUNDO=n            undo records (default 1: a second overwrite must
 *                      take back a dead writer's record)
 *   KILL_READER        the reader may die too (e.g. inside a recovery)
 *   LTL_RECOVERY       check (4) as LTL instead of at the end state
 *   CHECK_EPOCH_REUSE  check (5)
 *   INIT_K             start with K LIVE in slot 1 (not its natural slot),
 *                      named by word 0, value (3,3), epoch 2: both
 *                      writers may overwrite it, so with NUNDO=1 the
 *                      second must take back a dead first one's record
 *   GARBAGE_INIT       start with a PENDING word that names a settled slot
 *                      holding no key (a dead inserter's leftover that its
 *                      key did not lead recovery to, or a peer's garbage):
 *                      inserts must scrub it
 *   BROKEN_FLOOR_EARLY the insert loads the epoch floor only at its slot
 *                      claim, before its word CAS and Dekker scan (the
 *                      first format-3 src/kv.c, which this model found
 *                      wrong: README.md, "Found"); src/kv.c now loads it
 *                      again after the scan and raises its odd epoch past
 *                      it: with CHECK_EPOCH_REUSE spin must find (5)
 *   BROKEN_LOSSY       recovery frees the slot whenever the epoch is odd
 *                      (format 2's policy; C build -DSPL_BROKEN_LOSSY):
 *                      (6) must fail
 *   BROKEN_NO_UNDO     an overwrite arms no undo record: (6) must fail
 *   BROKEN_ARM_LATE    the overwrite arms its record after write_begin (the
 *                      record then holds the odd epoch): (6) must fail
 *   BROKEN_FREE_BEFORE_FLOOR  spl_unset tags the word FREE before raising
 *                      the epoch floor: with CHECK_EPOCH_REUSE spin must
 *                      find (5) violated
 *   BROKEN_NO_RECHECK  the reader skips the epoch re-check (like the C build
 *                      -DSPL_BROKEN_NO_RECHECK): spin must find a torn read
 *   BROKEN_NO_DEKKER   the insert skips the fence + scan after its PENDING
 *                      tag: spin must find two LIVE copies of K
 *   BROKEN_NO_RECOVERY spl__owner_alive always says "alive": spin must find
 *                      a slot left owned by a dead process
 *   PROBE=n            reachability probe n becomes assert(false)
 *   NO_W2, NO_DEL, NO_RD  leave that process out (smaller runs)
 */

#define NSLOT   2
#define NWORD   4     /* fixed: NAMES_ANY and friends spell out 4 words */
#define MAXATT  4     /* spl__put: attempts */
#define TRIES   4     /* SPL__READ_TRIES */
#ifndef MAXCRASH
#define MAXCRASH 1
#endif
#ifndef NUNDO
#define NUNDO 1
#endif

#define FREE    0
#define PENDING 1
#define LIVE    2
#define NONE    0
#define K       1
#define NOEP    255   /* SPL__NO_EPOCH: no even epoch equals it */
#ifdef INIT_K
#define INITV   3     /* K's value at the start */
#else
#define INITV   1     /* (no initial value: 1 is W1's anyway) */
#endif

/* return codes; a slot index 0..NSLOT-1 means "found, and locked" */
#define R_OK     0
#define R_ENOENT 10
#define R_EAGAIN 11
#define R_EFULL  12
#define R_RETRY  13

/* process ids = owner ids (0 means "no owner") */
#define W1  1
#define W2  2
#define DEL 3
#define RD  4
#define REC 5
#define NPROC 6

byte owner[NSLOT];
byte epoch[NSLOT];
bit  key[NSLOT];
byte va[NSLOT];
byte vb[NSLOT];
byte wst[NWORD];
byte wsl[NWORD];
byte cnt;
byte md;
byte efloor;
byte uown[NUNDO];
byte uarm[NUNDO];
byte uep[NUNDO];
byte uval[NUNDO];
bool dead[NPROC];
byte crashes;
byte g_who[NSLOT];
byte g_old[NSLOT];
#ifdef CHECK_EPOCH_REUSE
byte kmax;        /* ghost: the highest epoch a client could have seen K with */
#endif

/* One atomic step, or (if this process may still die) death just before it. */
#define STEP(...) \
	if \
	:: atomic { killable && crashes < MAXCRASH -> crashes++; dead[me] = 1 }; goto died \
	:: d_step { __VA_ARGS__ } \
	fi

/* spl__owner_alive (the broken variant's check always says "alive") */
#ifdef BROKEN_NO_RECOVERY
#define ALIVE(p) 1
#else
#define ALIVE(p) (!dead[p])
#endif

/* Reachability probes: with -DPROBE=n, probe n is an assert(false), so
 * spin must reach it (tests/model/run-spin.sh: the model is not vacuous). */
#ifndef PROBE
#define PROBE 0
#endif

#if PROBE == 11   /* K commits with a word whose number is not its slot's */
#define PROBE11 assert(i_p == i_i)
#else
#define PROBE11 skip
#endif

#define NAMES(p, j)   (wst[p] != FREE && wsl[p] == (j))
#define NNAMES(j)     (NAMES(0, j) + NAMES(1, j) + NAMES(2, j) + NAMES(3, j))
#define LIVEAT(p, j)  (wst[p] == LIVE && wsl[p] == (j))
#define LIVE_NAMES(j) (LIVEAT(0, j) || LIVEAT(1, j) || LIVEAT(2, j) || LIVEAT(3, j))
#define NLIVE ((wst[0] == LIVE) + (wst[1] == LIVE) + (wst[2] == LIVE) + (wst[3] == LIVE))
/* every LIVE word lies within its home's probe bound */
#define LIVE_COVERED ((wst[1] != LIVE || 1 <= md) && (wst[2] != LIVE || 2 <= md) && \
		      (wst[3] != LIVE || 3 <= md))
#define WHOLE(j) (key[j] == K && va[j] == vb[j] && va[j] != 0)

/* ---- one-word atomics (bodies of STEPs) ---------------------------------- */

/* Property (3): only this stores an epoch, and it never lowers one. */
inline SET_EPOCH(i, v) {
	assert(v >= epoch[i]);
	epoch[i] = v
}

/* The checks made at every change of a word's tag.  Property (1): no
 * other word is LIVE (only K exists, so two LIVE words = a duplicate key);
 * no two words name one slot (recovery follows the first it finds).  Also:
 * a LIVE word lies within maxdist (else lookups could miss it), and the
 * bucket count is not below the number of LIVE keys. */
inline TAG_CHECKS(s, j) {
	assert(s != LIVE || NLIVE <= 1);        /* (1) no duplicate K */
	assert(s == FREE || NNAMES(j) <= 1);    /* (1) one word per slot */
	assert(s != LIVE || (LIVE_COVERED && cnt >= NLIVE))
}

/* spl__ix_set_tag: word p gets state s naming slot j (FREE: tag 0). */
inline SET_TAG(p, s, j) {
	wst[p] = s;
	if :: s == FREE -> wsl[p] = 0 :: else -> wsl[p] = j fi;
	TAG_CHECKS(s, j)
}

inline BUCKET_ADD(d, inc) {
	if :: inc -> cnt++ :: else -> skip fi;
	if :: d > md -> md = d :: else -> skip fi
}

inline BUCKET_SUB() {
	if
	:: cnt == 0 -> skip
	:: else ->
		cnt--;
		if :: cnt == 0 -> md = 0 :: else -> skip fi  /* maxdist resets */
	fi;
	assert(LIVE_COVERED && cnt >= NLIVE)
}

/* Property (5), (key, epoch) never repeats: when a new incarnation of K
 * becomes visible (its LIVE tag; clients see it at the epoch write_end
 * stores next), that epoch is above every epoch a client could have seen K
 * with before (what the epoch floor is for; spl_cas relies on it).  Only
 * with -DCHECK_EPOCH_REUSE (the ghost kmax costs states). */
inline NEW_INCARNATION(e) {
#ifdef CHECK_EPOCH_REUSE
	assert(e > kmax);
	kmax = e
#else
	skip
#endif
}

inline SEEN_EPOCH(e) {
#ifdef CHECK_EPOCH_REUSE
	if :: e > kmax -> kmax = e :: else -> skip fi
#else
	skip
#endif
}

inline FLOOR_RAISE(e) {
	if :: efloor < e + 1 -> efloor = e + 1 :: else -> skip fi
}

/* spl__write_begin: load the epoch, store it odd (one step: only the
 * holder writes the epoch); spl__write_end: store odd + 1 */
inline WB(i, odd) {
	odd = epoch[i] | 1;
	SET_EPOCH(i, odd)
}

inline WE(i, odd) {
	SET_EPOCH(i, odd + 1)
}

/* spl__slot_link for slot j, whose key the caller loaded into n_k: the
 * first word from K's home on that names j (n_p, NWORD if none) and its
 * state (n_w, FREE if none). */
inline LINK(j) {
	n_p = NWORD;
	if
	:: n_k == NONE -> skip
	:: else ->
		if
		:: NAMES(0, j) -> n_p = 0
		:: else ->
			if
			:: NAMES(1, j) -> n_p = 1
			:: else ->
				if
				:: NAMES(2, j) -> n_p = 2
				:: else -> if :: NAMES(3, j) -> n_p = 3 :: else -> skip fi
				fi
			fi
		fi
	fi;
	if :: n_p < NWORD -> n_w = wst[n_p] :: else -> n_w = FREE fi
}

/* CAS slot i's owner from exp to me (acquire).  On success, also load the
 * slot's epoch and key and follow its link (merged: only the holder writes
 * the epoch and the key, and only the holder of slot i changes a word that
 * names i or makes a word name i, so what these loads see cannot change
 * while the caller holds i). */
inline ACQ(i, exp, ok) {
	if
	:: owner[i] == exp ->
		owner[i] = me; ok = 1;
		n_e = epoch[i]; n_k = key[i]; LINK(i)
	:: else -> ok = 0
	fi
}

inline UNLOCK(i) {
	owner[i] = 0
}

#define CLEAR_SNAP n_e = 0; n_k = 0; n_p = 0; n_w = 0

/* ---- undo records -------------------------------------------------------- */

/* spl__undo_settle (caller holds slot j): put back what the record armed
 * for j at even epoch `even` saved, and disarm every record of j. */
inline UNDO_SETTLE(j, even) {
	u_r = 0;
	do
	:: u_r >= NUNDO -> break
	:: else ->
		STEP(u_a = uarm[u_r]);
		if
		:: u_a == j + 1 ->
			STEP(u_m = (uep[u_r] == even));   /* what + epoch */
			if
			:: u_m ->
#if PROBE == 10
				assert(false);  /* recovery restores a value from its undo record */
#endif
#if PROBE == 14
				/* a redo record: recovery completes the dead writer's set */
				assert(!(g_who[j] != 0 && uval[u_r] == g_who[j]));
#endif
				STEP(va[j] = uval[u_r]);      /* copy_shared, val_len, type, mtime */
				STEP(vb[j] = uval[u_r])
			:: else -> skip
			fi;
			STEP(uarm[u_r] = 0; u_m = 0)
		:: else -> skip
		fi;
		atomic { u_a = 0; u_r++ }
	od;
	u_r = 0
}

/* spl__undo_reclaim: give back records whose owner died, except one armed
 * for a write its slot has not been recovered from (nudge that slot). */
inline RECLAIM() {
	k_r = 0;
	do
	:: k_r >= NUNDO -> break
	:: else ->
		/* owner load + liveness check (merged: a death commutes with the
		 * load, and the check reads no shared memory) */
		STEP(k_o = uown[k_r]; k_x = (k_o != 0 && !ALIVE(k_o)));
		if
		:: k_x ->
			k_x = 0;
			STEP(k_a = uarm[k_r]);            /* seq_cst */
			if
			:: k_a != 0 && k_a <= NSLOT ->
				/* the slot's epoch, then the record's (merged: the
				 * record's owner is dead, only a reclaim that wins the
				 * CAS below rewrites it) */
				STEP(k_x = ((epoch[k_a - 1] & 1) && epoch[k_a - 1] == uep[k_r] + 1))
			:: else -> skip
			fi;
			if
			:: k_x -> k_x = 0; CONTENDED(k_a - 1, k_c); k_c = 0
			:: else ->
				STEP(if :: uown[k_r] == k_o -> uown[k_r] = me; k_x = 1 :: else -> skip fi);
				if
				:: k_x ->
#if PROBE == 13
					assert(false);  /* a writer takes back a dead writer's record */
#endif
					k_x = 0;
					STEP(uarm[k_r] = 0);
					STEP(uown[k_r] = 0)
				:: else -> skip
				fi
			fi
		:: else -> skip
		fi;
		atomic { k_o = 0; k_a = 0; k_r++ }
	od;
	k_r = 0
}

/* spl__undo_arm for slot i (held, settled): take a free record (its owner
 * load + CAS are one RMW), else reclaim and try once more.  Then save the
 * value and the slot's epoch and arm it: one step (merged: a record that is
 * not armed is read by nobody but a reclaim, which reads only owner and
 * armed), release fence.  ret: 1 armed, 0 none free (SPL_EAGAIN). */
inline UNDO_ARM(i, ret, nv) {
	u_pass = 0; u_u = NUNDO;
	do
	:: u_pass >= 2 -> break
	:: else ->
		u_r = 0;
		do
		:: u_r >= NUNDO -> break
		:: else ->
			STEP(if :: uown[u_r] == 0 -> uown[u_r] = me; u_u = u_r :: else -> skip fi);
			if :: u_u < NUNDO -> break :: else -> u_r++ fi
		od;
		u_r = 0;
		if
		:: u_u < NUNDO -> break
		:: else -> if :: u_pass == 0 -> RECLAIM() :: else -> skip fi; u_pass++
		fi
	od;
	u_pass = 0;
	if
	:: u_u < NUNDO ->
		/* an undo record (spl__undo_arm: the old value), or a redo
		 * record (spl_set's one pass, spl__set_fast: the new value nv,
		 * copied into the unarmed record before the lock, which nobody
		 * reads, so the copy is one step with the arming): recovery
		 * puts either into the slot */
		if
		:: STEP(uval[u_u] = va[i]; uep[u_u] = epoch[i]; uarm[u_u] = i + 1)
		:: STEP(uval[u_u] = nv; uep[u_u] = epoch[i]; uarm[u_u] = i + 1)
		fi;
		ret = 1
	:: else -> ret = 0
	fi
}

/* ---- ownership and recovery ---------------------------------------------- */

/* spl__repair: the caller holds slot j and ACQ loaded n_e, n_k, n_p, n_w.
 * An odd epoch is a write that never finished: a LIVE word naming j keeps
 * the key (restored from its undo record if one is armed for the write);
 * a PENDING word, or none, frees the word and the slot.  rep: 1 if it
 * repaired.  n_* are left as they are after it. */
inline REPAIR(j, rep) {
	if
	:: !(n_e & 1) -> rep = 0
	:: else ->
		rep = 1;
		/* acquire fence; spl__slot_link (merged into ACQ) */
#ifdef BROKEN_LOSSY
		if :: n_w == LIVE -> n_w = PENDING :: else -> skip fi;
#endif
		if
		:: n_w == LIVE ->
#if PROBE == 9
			assert(false);  /* recovery keeps a dead writer's LIVE key */
#endif
			UNDO_SETTLE(j, n_e - 1)
		:: else ->
			if :: n_w != FREE -> STEP(SET_TAG(n_p, FREE, 0)) :: else -> skip fi;
			STEP(FLOOR_RAISE(n_e));             /* spl__slot_clear */
			STEP(key[j] = NONE);                /* key_len = val_len = 0, forget */
			UNDO_SETTLE(j, NOEP)
#if PROBE == 7
			; assert(false)   /* recovery frees an unfinished write */
#endif
		fi;
		STEP(if :: n_w == LIVE -> SEEN_EPOCH(n_e + 1) :: else -> skip fi;
		     WE(j, n_e);
		     n_e = n_e + 1;
		     if :: n_w != LIVE -> n_k = NONE; n_p = NWORD; n_w = FREE :: else -> skip fi)
	fi
}

/* Property (6), when a recovery of slot i ends: a dead overwriter's slot
 * holds K, LIVE, whole, with the old value or the writer's; a dead
 * deleter's holds K LIVE whole with the old value, or no key and no LIVE
 * word. */
inline CHECK6(i) {
	if
	:: g_who[i] == 0 -> skip
	:: g_who[i] == DEL ->
		assert((LIVE_NAMES(i) && WHOLE(i) && va[i] == g_old[i]) ||
		       (!LIVE_NAMES(i) && key[i] == NONE))
	:: else ->
		assert(LIVE_NAMES(i) && WHOLE(i) && (va[i] == g_old[i] || va[i] == g_who[i]))
	fi;
	g_who[i] = 0; g_old[i] = 0
}

/* spl__recover after its CAS succeeded (the caller holds slot i, n_*
 * loaded): repair, or disarm leftover records of a writer that died
 * outside its write section; release. */
inline RECOVERED(i) {
	REPAIR(i, c_rep);
	if :: !c_rep -> UNDO_SETTLE(i, NOEP) :: else -> skip fi;
	STEP(CHECK6(i); UNLOCK(i); c_rep = 0; CLEAR_SNAP)
}

/* spl__recover: CAS the owner from the id seen (dead, or 0) to me. */
inline RECOVER(i, seen, ret) {
	STEP(ACQ(i, seen, c_ok));
	if
	:: c_ok -> c_ok = 0; RECOVERED(i); ret = 1
	:: else -> skip
	fi
}

/* spl__contended(i).  Either no check this time (the rate limit), or:
 *  - a dead owner: its load, the liveness check and the recovery CAS are
 *    one step (sound: the loads have no effect, and the CAS succeeds exactly
 *    when the owner is still that dead id at the CAS; death is permanent);
 *  - owner 0: the epoch load, and a recovery from 0 if it is odd;
 *  - a live owner: nothing. */
inline CONTENDED(i, ret) {
	ret = 0;
	if
	:: skip                             /* checked < SPL_CHECK_NS ago */
	:: STEP(c_o = owner[i];
		if
		:: c_o != 0 && !ALIVE(c_o) -> ACQ(i, c_o, c_ok)
		:: else -> c_ok = 0
		fi);
	   if
	   :: c_ok ->
#if PROBE == 8
		assert(false);      /* a caller (not the recoverer) recovers */
#endif
		c_o = 0; c_ok = 0; RECOVERED(i); ret = 1
	   :: !c_ok && c_o == 0 ->
		STEP(c_x = epoch[i] & 1);
		if
		:: c_x -> c_x = 0; RECOVER(i, 0, ret)
		:: else -> skip
		fi
	   :: else -> c_o = 0
	   fi
	fi
}

/* spl__lock: CAS 0 -> me, then repair; on failure a contention check, and
 * one more try if it recovered the slot.  ret: 0 locked (n_* describe the
 * slot as it is now), else R_EAGAIN. */
inline LOCK(i, ret) {
	l_t = 0;
	ret = R_EAGAIN;
	do
	:: l_t < 2 ->
		STEP(ACQ(i, 0, l_ok));
		if
		:: l_ok -> l_ok = 0; l_t = 0; REPAIR(i, l_rep); l_rep = 0; ret = 0; break
		:: else ->
			CONTENDED(i, l_c);
			if :: l_c -> l_c = 0; l_t++ :: else -> l_t = 0; break fi
		fi
	:: else -> l_t = 0; break
	od
}

/* spl__find_locked: scan home..home+maxdist; lock the slot each LIVE word
 * names and re-check word and key under the lock (merged into the lock:
 * a word names the locked slot only by its holder's doing).  res: the
 * locked slot (f_d: the word's position), R_ENOENT or R_EAGAIN. */
inline FIND_LOCKED(res) {
	/* acquire load of index[home]: word 0's tag and the bucket */
	STEP(f_w = wst[0]; f_s = wsl[0]; f_md = md; f_d = 0; f_busy = 0; res = R_ENOENT);
	do
	:: f_w == LIVE ->
		LOCK(f_s, f_l);
		if
		:: f_l != 0 -> f_busy = 1; f_l = 0
		:: else ->
			if
			:: n_p == f_d && n_w == LIVE && n_k == K -> res = f_s; break
			:: else -> STEP(UNLOCK(f_s); CLEAR_SNAP)
			fi
		fi;
		if :: f_d + 1 > f_md -> break :: else -> STEP(f_d++; f_w = wst[f_d]; f_s = wsl[f_d]) fi
	:: else ->
		if :: f_d + 1 > f_md -> break :: else -> STEP(f_d++; f_w = wst[f_d]; f_s = wsl[f_d]) fi
	od;
	atomic {
		if :: res == R_ENOENT && f_busy -> res = R_EAGAIN :: else -> skip fi;
		if :: res >= NSLOT -> f_d = 0 :: else -> skip fi;
		f_w = 0; f_s = 0; f_md = 0; f_busy = 0; CLEAR_SNAP
	}
}

/* spl__ix_scrub: word p was seen PENDING naming slot x; the caller holds
 * slot self.  ret: 1 the word is gone (or was not a leftover), 0 x busy. */
inline SCRUB(p, x, self, ret) {
	if
	:: x == self ->   /* nobody else can hold x: drop the word */
		STEP(if
		     :: wst[p] == PENDING && wsl[p] == x -> SET_TAG(p, FREE, 0); ret = 1
		     :: else -> ret = (wst[p] == FREE)
		     fi)
	:: else ->
		STEP(ACQ(x, 0, s_ok));
		if
		:: !s_ok -> CONTENDED(x, ret)
		:: else ->
			s_ok = 0;
			REPAIR(x, s_rep); s_rep = 0;
			STEP(if
			     :: wst[p] == PENDING && wsl[p] == x ->
#if PROBE == 12
				assert(false);  /* the scrub frees a PENDING word of a settled slot */
#endif
				SET_TAG(p, FREE, 0)
			     :: else -> skip
			     fi);
			STEP(UNLOCK(x); CLEAR_SNAP);
			ret = 1
		fi
	fi
}

/* spl__slot_claim for home 0: slots from the natural one (0) on; skip a
 * settled slot holding a key (quick look), CAS the owner of the next,
 * repair it and keep it if it holds no key.  ret: R_OK with the slot in
 * i_i, else R_EAGAIN (one was busy) or R_EFULL. */
inline CLAIM(ret) {
	i_n = 0; i_i = 0; i_skip = 0; ret = R_EFULL;
	do
	:: i_n >= NSLOT -> break
	:: else ->
		STEP(i_x = key[i_i]);                     /* key_len (relaxed) */
		if
		:: i_x -> STEP(i_x = !(epoch[i_i] & 1))   /* && epoch even: skip */
		:: else -> skip
		fi;
		if
		:: i_x -> i_x = 0
		:: else ->
			STEP(ACQ(i_i, 0, i_c));
			if
			:: !i_c -> i_skip = 1; CONTENDED(i_i, i_c); i_c = 0
			:: else ->
				i_c = 0;
				REPAIR(i_i, i_rep); i_rep = 0;
				if
				:: n_k == NONE -> ret = R_OK; break  /* key_len (merged) */
				:: else -> STEP(UNLOCK(i_i); CLEAR_SNAP)
				fi
			fi
		fi;
		atomic { i_n++; i_i = (i_i + 1) % NSLOT }
	od;
	atomic {
		if :: ret != R_OK && i_skip -> ret = R_EAGAIN :: else -> skip fi;
		i_n = 0; i_skip = 0; CLEAR_SNAP;
		if :: ret != R_OK -> i_i = 0 :: else -> skip fi
	}
}

/* The word CAS of spl__insert at position i_d: the relaxed load, and while
 * it is FREE the CAS to PENDING naming i_i (one RMW).  i_w: the state seen
 * (FREE = taken), i_x the slot it names. */
inline TAKE_WORD() {
	STEP(i_w = wst[i_d]; i_x = wsl[i_d];
	     if :: i_w == FREE -> wst[i_d] = PENDING; wsl[i_d] = i_i; TAG_CHECKS(PENDING, i_i)
	        :: else -> skip fi)
}

/* spl__insert of K with the value (v, v).  rc: R_OK, R_EAGAIN, R_EFULL or
 * R_RETRY.  Has labels: use once per proctype. */
inline INSERT(v, rc) {
	CLAIM(rc);
	if
	:: rc != R_OK -> skip
	:: else ->
#ifdef BROKEN_FLOOR_EARLY
		/* a new key's first epoch is above the floor: load it (here,
		 * before the word CAS and the Dekker scan, as the first
		 * format-3 src/kv.c did: broken-floor-early), raise the slot's epoch to it (merged with
		 * write_begin: both are the holder's stores of its epoch; a
		 * reader that reaches the slot by a stale word finds no key at
		 * the raised even epoch, and nothing at the odd one) */
		STEP(i_f = efloor & 254);
		STEP(if :: i_f > epoch[i_i] -> SET_EPOCH(i_i, i_f) :: else -> skip fi;
		     i_f = 0;
		     WB(i_i, i_odd));
#else
		STEP(WB(i_i, i_odd));
#endif
		STEP(key[i_i] = K);                      /* key, then key_len */
		STEP(va[i_i] = v);
		STEP(vb[i_i] = v);                       /* val_len, type, times */
		/* take the first FREE word from home on */
		i_d = 0; i_skip = 0;
		do
		:: i_d >= NWORD -> break
		:: else ->
			TAKE_WORD();
			if
			:: i_w == FREE -> break
			:: i_w == LIVE -> i_d++
			:: i_w == PENDING ->
				SCRUB(i_d, i_x, i_i, i_c);
				if
				:: i_c ->
					i_c = 0;
					TAKE_WORD();
					if
					:: i_w == FREE -> break
					:: else -> skip
					fi
				:: else -> skip
				fi;
				if :: i_w != LIVE -> i_skip = 1 :: else -> skip fi;
				i_d++
			fi
		od;
		i_x = 0;
		if
		:: i_d >= NWORD ->
			if :: i_skip -> rc = R_EAGAIN :: else -> rc = R_EFULL fi;
			i_skip = 0;
			goto release_slot
		:: else -> i_p = i_d; i_d = 0; i_skip = 0; i_w = 0
		fi;
		STEP(BUCKET_ADD(i_p, 1));
#ifndef BROKEN_NO_DEKKER
		/* seq_cst fence (nothing to model under SC); reload maxdist; scan */
		STEP(i_md = md; i_e = 0);
		do
		:: i_e > i_md -> break
		:: i_e <= i_md && i_e == i_p -> i_e++
		:: else ->
			STEP(i_w = wst[i_e]; i_x = wsl[i_e]);   /* seq_cst load of index[q] */
			if
			:: i_w == FREE -> i_e++
			:: i_w != FREE && i_x == i_i ->
				/* a word naming the slot we hold: only garbage */
				STEP(SET_TAG(i_e, FREE, 0)); i_e++
			:: i_w == PENDING && i_x != i_i ->  /* another insert of K */
#if PROBE == 3
				assert(false);  /* the Dekker scan meets another PENDING K */
#endif
				SCRUB(i_e, i_x, i_i, i_c);
				if :: i_c -> i_c = 0; rc = R_RETRY :: else -> rc = R_EAGAIN fi;
				goto back_off
			:: i_w == LIVE && i_x != i_i ->
				STEP(i_e1 = epoch[i_x]);             /* read_begin */
				STEP(i_same = (key[i_x] == K));      /* key compare */
				STEP(i_c = ((i_e1 & 1) || epoch[i_x] != i_e1)); /* read_retry */
				if
				:: i_c -> i_c = 0; rc = R_EAGAIN; goto back_off
				:: else -> skip
				fi;
				if
				:: i_same ->                          /* K appeared */
#if PROBE == 4
					assert(false);  /* the Dekker scan finds K LIVE */
#endif
					STEP(BUCKET_SUB());
					STEP(BUCKET_ADD(i_e, 0));
					rc = R_RETRY;
					goto drop_word
				:: else -> atomic { i_e1 = 0; i_e++ }
				fi
			fi
		od;
		atomic { i_w = 0; i_x = 0; i_e = 0; i_md = 0 };
#endif
#ifndef BROKEN_FLOOR_EARLY
		/* the floor, loaded after the scan; the odd epoch moves past it */
		STEP(i_f = efloor & 254);
		STEP(if :: i_f > i_odd -> i_odd = i_f + 1; SET_EPOCH(i_i, i_odd) :: else -> skip fi; i_f = 0);
#endif
		STEP(SET_TAG(i_p, LIVE, i_i); NEW_INCARNATION(i_odd + 1); PROBE11);  /* the commit */
		STEP(WE(i_i, i_odd));
		STEP(UNLOCK(i_i));
		rc = R_OK;
		goto ins_done;
back_off:
		STEP(BUCKET_SUB());
drop_word:
		STEP(SET_TAG(i_p, FREE, 0));
release_slot:
		STEP(key[i_i] = NONE);                   /* key_len = val_len = 0 */
		STEP(WE(i_i, i_odd));
		STEP(UNLOCK(i_i));
ins_done:
		atomic { i_i = 0; i_p = 0; i_e = 0; i_e1 = 0; i_md = 0; i_odd = 0; i_w = 0; i_x = 0; i_same = 0; i_c = 0 }
	fi
}

/* spl__put's in-place overwrite of slot fl (held, K LIVE in it): arm an
 * undo record, write_begin, the value, write_end, disarm, release. */
inline OVERWRITE(fl, v) {
#if PROBE == 5
	assert(false);          /* a set overwrites in place */
#endif
#if !defined(BROKEN_NO_UNDO) && !defined(BROKEN_ARM_LATE)
	UNDO_ARM(fl, o_ok, v);
	if
	:: !o_ok -> STEP(UNLOCK(fl); g_who[fl] = 0; g_old[fl] = 0); goto w_done  /* SPL_EAGAIN */
	:: else -> o_ok = 0
	fi;
#endif
	STEP(WB(fl, odd));
#ifdef BROKEN_ARM_LATE
	UNDO_ARM(fl, o_ok, v);
	if
	:: !o_ok -> STEP(WE(fl, odd); UNLOCK(fl); g_who[fl] = 0; g_old[fl] = 0); goto w_done
	:: else -> o_ok = 0
	fi;
#endif
	STEP(va[fl] = v);
	STEP(vb[fl] = v);                           /* val_len, mtime */
	STEP(WE(fl, odd); SEEN_EPOCH(odd + 1));
#ifndef BROKEN_NO_UNDO
	STEP(uarm[u_u] = 0);                        /* spl__undo_done */
	STEP(uown[u_u] = 0);
#endif
	STEP(UNLOCK(fl); g_who[fl] = 0; g_old[fl] = 0)
}

/* ---- processes ----------------------------------------------------------- */

#define PROC_LOCALS \
	byte n_e, n_k, n_p, n_w, c_o, u_r, u_a; \
	bit  c_ok, c_x, c_rep, u_m

#define WRITER_LOCALS \
	byte l_t, f_w, f_s, f_md, f_d, f_l; \
	bit  l_ok, l_c, l_rep, f_busy, s_ok, s_rep; \
	byte i_n, i_i, i_d, i_p, i_w, i_x, i_md, i_e, i_e1, i_odd, i_f; \
	bit  i_c, i_skip, i_same, i_rep; \
	byte u_pass, u_u, k_r, k_o, k_a; \
	bit  k_x, k_c, o_ok

#define CLEAN_PROC \
	n_e = 0; n_k = 0; n_p = 0; n_w = 0; c_o = 0; u_r = 0; u_a = 0; \
	c_ok = 0; c_x = 0; c_rep = 0; u_m = 0

#define CLEAN_WRITER \
	CLEAN_PROC; \
	l_t = 0; f_w = 0; f_s = 0; f_md = 0; f_d = 0; f_l = 0; \
	l_ok = 0; l_c = 0; l_rep = 0; f_busy = 0; s_ok = 0; s_rep = 0; \
	i_n = 0; i_i = 0; i_d = 0; i_p = 0; i_w = 0; i_x = 0; i_md = 0; i_e = 0; \
	i_e1 = 0; i_odd = 0; i_f = 0; i_c = 0; i_skip = 0; i_same = 0; i_rep = 0; \
	u_pass = 0; u_u = 0; k_r = 0; k_o = 0; k_a = 0; k_x = 0; k_c = 0; o_ok = 0

/* spl_set(K, (v, v)) = spl__put(SPL__PUT_SET) */
proctype writer(byte me; byte v) {
	bool killable = 1;
	PROC_LOCALS;
	WRITER_LOCALS;
	byte att, fl, rc, odd;
	do
	:: att >= MAXATT -> break               /* SPL_EAGAIN */
	:: else ->
		FIND_LOCKED(fl);
		if
		:: fl < NSLOT ->                    /* found: overwrite in place */
			d_step {                        /* ghost: K's value before */
				assert(WHOLE(fl));
				g_who[fl] = me; g_old[fl] = va[fl]; f_d = 0
			};
			OVERWRITE(fl, v);
			break
		:: fl == R_EAGAIN -> break
		:: fl == R_ENOENT ->
			INSERT(v, rc);
			if :: rc == R_RETRY -> att++ :: else -> break fi
		fi
	od;
w_done:
died:	skip;
	d_step { CLEAN_WRITER; att = 0; fl = 0; rc = 0; odd = 0 }
}

/* spl_unset(K) */
proctype deleter(byte me) {
	bool killable = 1;
	PROC_LOCALS;
	WRITER_LOCALS;
	byte fl, odd;
	FIND_LOCKED(fl);
	if
	:: fl < NSLOT ->
		d_step { assert(WHOLE(fl)); g_who[fl] = DEL; g_old[fl] = va[fl] };
		STEP(WB(fl, odd));                  /* + gone_len */
#ifndef BROKEN_FREE_BEFORE_FLOOR
		STEP(FLOOR_RAISE(odd));
		STEP(SET_TAG(f_d, FREE, 0));        /* the commit: K is gone */
#else
		STEP(SET_TAG(f_d, FREE, 0));        /* FREE before the floor is raised */
		STEP(FLOOR_RAISE(odd));
#endif
		STEP(key[fl] = NONE);               /* spl__slot_clear: key_len = val_len = 0 */
		STEP(WE(fl, odd));
		STEP(UNLOCK(fl); g_who[fl] = 0; g_old[fl] = 0);
		STEP(BUCKET_SUB())
#if PROBE == 6
		; assert(false)     /* unset removed K */
#endif
	:: else -> skip
	fi;
died:	skip;
	d_step { CLEAN_WRITER; fl = 0; odd = 0 }
}

/* spl_get(K): spl__find with spl__rd_get.  Property (2): a value it
 * returns is a pair that one writer wrote whole. */
proctype reader(byte me) {
#ifdef KILL_READER
	bool killable = 1;
#else
	bool killable = 0;
#endif
	PROC_LOCALS;
	byte r_w, r_s, r_md, r_d, t, e1, ra, rb;
	bit  match, r_c;   /* (its result, EAGAIN or ENOENT, is not modelled) */
	STEP(r_w = wst[0]; r_s = wsl[0]; r_md = md);   /* index[home]: word 0 + bucket */
	do
	:: r_w == LIVE ->
		t = 0;
		do
		:: t >= TRIES -> break
		:: else ->
			STEP(e1 = epoch[r_s]);             /* read_begin */
			if
			:: e1 & 1 ->
				CONTENDED(r_s, r_c);
				if :: r_c -> r_c = 0; t++ :: else -> break fi   /* busy */
			:: else ->
				STEP(match = (key[r_s] == K));   /* key compare */
				if
				:: match -> STEP(ra = va[r_s]); STEP(rb = vb[r_s])
				:: else -> skip
				fi;
#ifndef BROKEN_NO_RECHECK
				STEP(r_c = (epoch[r_s] != e1));   /* read_retry */
				if
				:: r_c ->
#if PROBE == 2
					assert(false);  /* the re-check catches a changed epoch */
#endif
					r_c = 0; t++; ra = 0; rb = 0   /* busy after the last */
				:: else ->
#endif
					if
					:: !match -> break
					:: else ->
						/* found: the value must be whole */
						assert(ra == rb && (ra == 1 || ra == 2 || ra == INITV));
#if PROBE == 1
						assert(false);
#endif
						goto done
					fi
#ifndef BROKEN_NO_RECHECK
				fi
#endif
			fi
		od;
		atomic { t = 0; e1 = 0; match = 0 };
		if :: r_d + 1 > r_md -> break :: else -> STEP(r_d++; r_w = wst[r_d]; r_s = wsl[r_d]) fi
	:: else ->
		if :: r_d + 1 > r_md -> break :: else -> STEP(r_d++; r_w = wst[r_d]; r_s = wsl[r_d]) fi
	od;
done:
died:	skip;
	d_step { CLEAN_PROC; r_w = 0; r_s = 0; r_md = 0; r_d = 0; t = 0; e1 = 0; ra = 0; rb = 0; match = 0; r_c = 0 }
}

/* Any later read-write caller that meets a dead writer's slot.  It acts
 * while some slot is owned by a dead process.  When nothing else can move
 * (timeout: every process has finished or died) it checks the end state:
 * property (4). */
proctype recoverer(byte me) {
	bool killable = 0;
	PROC_LOCALS;
	byte i;
end_rec:
	do
	:: atomic {      /* owner load + liveness check + recovery CAS */
		if
		:: owner[0] != 0 && !ALIVE(owner[0]) -> i = 0
		:: owner[1] != 0 && !ALIVE(owner[1]) -> i = 1
		fi;
		ACQ(i, owner[i], c_ok)
	   };
	   c_ok = 0;
	   RECOVERED(i);
	   i = 0
	:: timeout ->
#ifndef LTL_RECOVERY   /* the LTL run checks (4) as liveness instead */
		d_step {
			/* no slot is owned (by the dead or anyone) or mid-write */
			assert(owner[0] == 0 && owner[1] == 0);
			assert(!(epoch[0] & 1) && !(epoch[1] & 1));
			/* no word is left PENDING (with GARBAGE_INIT: unless it is
			 * the planted kind, naming a free settled slot, that an
			 * insert passing by scrubs) */
#ifndef GARBAGE_INIT
			assert(wst[0] != PENDING && wst[1] != PENDING && wst[2] != PENDING && wst[3] != PENDING);
#else
			assert(wst[0] != PENDING || key[wsl[0]] == NONE);
			assert(wst[1] != PENDING && wst[2] != PENDING && wst[3] != PENDING);
#endif
			/* what is LIVE names a slot holding K, whole; unique,
			 * reachable */
			assert(wst[0] != LIVE || WHOLE(wsl[0]));
			assert(wst[1] != LIVE || WHOLE(wsl[1]));
			assert(wst[2] != LIVE || WHOLE(wsl[2]));
			assert(wst[3] != LIVE || WHOLE(wsl[3]));
			assert(NLIVE <= 1 && LIVE_COVERED && cnt >= NLIVE);
			/* a slot holding a key is named by a LIVE word: no leak */
			assert(key[0] == NONE || LIVE_NAMES(0));
			assert(key[1] == NONE || LIVE_NAMES(1));
			/* every dead overwriter's or deleter's slot went through
			 * the check of (6) */
			assert(g_who[0] == 0 && g_who[1] == 0);
			/* no undo record is left armed */
			assert(uarm[0] == 0);
#if NUNDO > 1
			assert(uarm[1] == 0);
#endif
		};
#endif
		break
	od;
died:	skip;
	skip
}

#ifdef LTL_RECOVERY
/* (4) as liveness: a slot owned by a dead process is recovered, always
 * eventually.  Check with weak fairness (pan -a -f). */
#define STUCK ((owner[0] != 0 && dead[owner[0]]) || (owner[1] != 0 && dead[owner[1]]))
ltl recovered { [] (STUCK -> <> !STUCK) }
#endif

init {
	atomic {
#ifdef GARBAGE_INIT
		/* word 0 PENDING naming slot 1, which holds no key */
		wst[0] = PENDING; wsl[0] = 1;
#endif
#ifdef INIT_K
		/* K LIVE in slot 1, named by word 0: as an insert that found
		 * slot 0 taken would leave it */
		wst[0] = LIVE; wsl[0] = 1; key[1] = K; va[1] = INITV; vb[1] = INITV;
		epoch[1] = 2; efloor = 0; cnt = 1; md = 0;
#ifdef CHECK_EPOCH_REUSE
		kmax = 2;
#endif
#endif
		run writer(W1, 1);
#ifndef NO_W2
		run writer(W2, 2);
#endif
#ifndef NO_DEL
		run deleter(DEL);
#endif
#ifndef NO_RD
		run reader(RD);
#endif
		run recoverer(REC)
	}
}
