/*
 * slot.pml - a Promela model of Splinter's slot protocol (docs/PROTOCOL.md,
 * src/kv.c), checked with spin.  How to run it, what it checks and what it
 * abstracts: docs/model/README.md.  tests/model/run-spin.sh runs every check.
 *
 * The table: NSLOT = 3 slots, every key hashes to home 0, the probe window
 * is the whole table (probe_max = NSLOT-1).  There is one key, K: every
 * index tag that is not FREE carries K's fingerprint, so "fingerprint
 * matches" is always true and a key comparison is "the key lane holds K".
 *
 * Shared state (slot i; the bucket of home 0; the header):
 *   owner[i]     slot.owner, the slot lock: 0 or the holder's id (= pid here)
 *   epoch[i]     slot.epoch, the seqlock (odd: a write is in progress)
 *   state[i]     index[i] bits 0..1: FREE / PENDING / LIVE
 *   key[i]       the key lane: K, or NONE (key_len = 0)
 *   va[i], vb[i] the value, two words stored one after the other so that a
 *                torn read is observable; writer w stores the pair (w, w)
 *   cnt, md      index[0] bits 10..19 (count) and 2..9 (maxdist)
 *   efloor       header.epoch_floor
 *   dead[p]      ghost: process p has died (what spl__owner_alive answers)
 *
 * Steps.  Every STEP(...) is one atomic step of the real code: one atomic
 * load, store or read-modify-write of shared memory (a CAS loop on one word
 * is one RMW), together with the private computation that follows it.
 * Before every STEP a killable process may die instead (crash budget
 * MAXCRASH): it stops there for good, holding whatever it held, so a
 * process can die between any two of its atomic steps.  A few loads are
 * merged into the step before them where that cannot hide an interleaving;
 * each is marked "merged" and README.md lists them.  The model is
 * sequentially consistent: it checks the protocol's logic, not the C11
 * memory orders (README.md, "Abstractions").
 *
 * Model                        src/kv.c (src/internal.h for the seqlock)
 *   SET_TAG                    spl__ix_set_tag (seq_cst CAS loop)
 *   BUCKET_ADD / BUCKET_SUB    spl__bucket_add / spl__bucket_sub
 *   FLOOR_RAISE                spl__floor_raise
 *   WB / WE                    spl__write_begin / spl__write_end
 *   ACQ, UNLOCK                spl_cas_acquire(&sl->owner, ...), spl__unlock
 *   NORMALIZE                  spl__normalize
 *   RECOVER                    spl__recover
 *   CONTENDED                  spl__contended (its 1 ms rate limit is a
 *                              nondeterministic "no check this time")
 *   LOCK                       spl__lock (two tries)
 *   FIND_LOCKED                spl__find_locked
 *   INSERT                     spl__insert: claim loop, bucket add, PENDING
 *                              tag, seq_cst fence + Dekker scan, epoch floor,
 *                              write section, LIVE tag, release; back_off;
 *                              "key appeared" -> SPL__RETRY
 *   proctype writer            spl_set -> spl__put(SPL__PUT_SET): find_locked,
 *                              overwrite in place, or insert; MAXATT attempts
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
 *   (1) never two LIVE slots (= two copies of K): SET_TAG
 *   (2) a value the reader returns is a pair one writer wrote whole: reader
 *   (3) an epoch never decreases: SET_EPOCH
 *   (4) end state (timeout in the recoverer): no slot owned, none PENDING,
 *       no odd epoch, what is LIVE is whole; or, with LTL_RECOVERY, the LTL
 *       formula "recovered" under weak fairness
 *   also: every LIVE slot lies within maxdist, the bucket count is never
 *   below the number of LIVE keys (SET_TAG, BUCKET_SUB)
 *   (5) with CHECK_EPOCH_REUSE: a re-inserted K never shows an epoch K
 *       showed before (the epoch floor's promise; spl_cas relies on it)
 *
 * Switches (spin -DNAME):
 *   MAXCRASH=n         how many processes may die (default 1)
 *   KILL_READER        the reader may die too (e.g. inside a recovery)
 *   LTL_RECOVERY       check (4) as LTL instead of at the end state
 *   CHECK_EPOCH_REUSE  check (5)
 *   BROKEN_FREE_BEFORE_FLOOR  spl_unset and spl__normalize tag the slot
 *                      FREE before raising the epoch floor (the order
 *                      src/kv.c had until spin found it wrong): with
 *                      CHECK_EPOCH_REUSE spin must find (5) violated
 *   BROKEN_NO_RECHECK  the reader skips the epoch re-check (like the C build
 *                      -DSPL_BROKEN_NO_RECHECK): spin must find a torn read
 *   BROKEN_NO_DEKKER   the insert skips the fence + scan after its PENDING
 *                      tag: spin must find two LIVE copies of K
 *   BROKEN_NO_RECOVERY spl__owner_alive always says "alive": spin must find
 *                      a slot left owned by a dead process
 *   PROBE=n            reachability probe n becomes assert(false)
 *   NO_W2, NO_DEL, NO_RD  leave that process out (smaller runs)
 */

#define NSLOT   3
#define MAXATT  4     /* spl__put: attempts */
#define TRIES   4     /* SPL__READ_TRIES */
#ifndef MAXCRASH
#define MAXCRASH 1
#endif

#define FREE    0
#define PENDING 1
#define LIVE    2
#define NONE    0
#define K       1

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
byte state[NSLOT];
bit  key[NSLOT];
byte va[NSLOT];
byte vb[NSLOT];
byte cnt;
byte md;
byte efloor;
bool dead[NPROC];
byte crashes;
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

#define NLIVE ((state[0] == LIVE) + (state[1] == LIVE) + (state[2] == LIVE))
/* every LIVE slot lies within its home's probe bound */
#define LIVE_COVERED ((state[1] != LIVE || 1 <= md) && (state[2] != LIVE || 2 <= md))

/* ---- one-word atomics (bodies of STEPs) ---------------------------------- */

/* Property (3): only this stores an epoch, and it never lowers one. */
inline SET_EPOCH(i, v) {
	assert(v >= epoch[i]);
	epoch[i] = v
}

/* spl__ix_set_tag.  Property (1), checked at every LIVE tag: no other slot
 * is LIVE (only K exists, so two LIVE slots = a duplicate key).  Also: the
 * slot lies within maxdist (else lookups could miss it), and the bucket
 * count is not below the number of LIVE keys. */
inline SET_TAG(i, s) {
	state[i] = s;
	assert(s != LIVE || NLIVE <= 1);        /* (1) no duplicate K */
	assert(s != LIVE || (LIVE_COVERED && cnt >= NLIVE))
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
 * becomes visible (its LIVE tag), its epoch is above every epoch a client
 * could have seen K with before (what the epoch floor is for; spl_cas
 * relies on it).  Only with -DCHECK_EPOCH_REUSE (the ghost kmax costs
 * states). */
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

/* CAS slot i's owner from exp to me (acquire).  On success, also load the
 * slot's epoch, tag and key (merged: only the holder writes them, so these
 * loads commute with every other process's steps). */
inline ACQ(i, exp, ok) {
	if
	:: owner[i] == exp ->
		owner[i] = me; ok = 1;
		n_e = epoch[i]; n_w = state[i]; n_k = key[i]
	:: else -> ok = 0
	fi
}

inline UNLOCK(i) {
	owner[i] = 0
}

/* ---- ownership and recovery ---------------------------------------------- */

/* spl__normalize: the caller holds slot i and ACQ loaded n_e, n_w.  Odd
 * epoch or PENDING tag: a write never finished; free the slot. */
inline NORMALIZE(i) {
	if
	:: !(n_e & 1) && n_w != PENDING -> n_e = 0
	:: else ->
		STEP(WB(i, n_odd); n_e = 0);
		STEP(key[i] = NONE);            /* key_len = val_len = labels = 0 */
#ifndef BROKEN_FREE_BEFORE_FLOOR
		STEP(FLOOR_RAISE(n_odd));
		STEP(SET_TAG(i, FREE));
#else
		STEP(SET_TAG(i, FREE));
		STEP(FLOOR_RAISE(n_odd));
#endif
		STEP(WE(i, n_odd); n_odd = 0; n_w = FREE; n_k = NONE)
#if PROBE == 7
		; assert(false)     /* recovery freed an unfinished write */
#endif
	fi
}

/* spl__recover: CAS the owner from the id seen (dead, or 0) to me;
 * normalise; release. */
inline RECOVER(i, seen, ret) {
	STEP(ACQ(i, seen, c_ok));
	if
	:: c_ok -> NORMALIZE(i); STEP(UNLOCK(i); ret = 1; c_ok = 0; n_w = 0; n_k = 0)
	:: else -> skip
	fi
}

/* spl__contended(i).  Either no check this time (the rate limit), or:
 *  - a dead owner: its load, the liveness check and the recovery CAS are
 *    one step (sound: the loads have no effect, and the CAS succeeds exactly
 *    when the owner is still that dead id at the CAS; death is permanent);
 *  - owner 0: one snapshot of epoch and tag (the code loads one, then the
 *    other, and recovers if either shows "stuck": the snapshot can be taken
 *    at the moment of that load), then RECOVER from 0;
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
		c_o = 0; NORMALIZE(i); STEP(UNLOCK(i); ret = 1; c_ok = 0; n_w = 0; n_k = 0)
	   :: !c_ok && c_o == 0 ->
		STEP(c_x = (epoch[i] & 1) || state[i] == PENDING);
		if
		:: c_x -> c_x = 0; RECOVER(i, 0, ret)
		:: else -> skip
		fi
	   :: else -> c_o = 0
	   fi
	fi
}

/* spl__lock: CAS 0 -> me, then normalise; on failure a contention check,
 * and one more try if it recovered the slot.  ret: 0 locked (n_w, n_k hold
 * the slot's tag and key), else R_EAGAIN. */
inline LOCK(i, ret) {
	l_t = 0;
	ret = R_EAGAIN;
	do
	:: l_t < 2 ->
		STEP(ACQ(i, 0, l_ok));
		if
		:: l_ok -> l_ok = 0; l_t = 0; NORMALIZE(i); ret = 0; break
		:: else ->
			CONTENDED(i, l_c);
			if :: l_c -> l_c = 0; l_t++ :: else -> l_t = 0; break fi
		fi
	:: else -> l_t = 0; break
	od
}

/* spl__find_locked: scan home..home+maxdist; lock each slot tagged LIVE
 * with K's fingerprint and compare tag and key under the lock (merged into
 * the locking step).  res: the locked slot, R_ENOENT or R_EAGAIN. */
inline FIND_LOCKED(res) {
	/* acquire load of index[home]: slot 0's tag and the bucket, one word */
	STEP(f_w = state[0]; f_md = md; f_d = 0; f_busy = 0; res = R_ENOENT);
	do
	:: f_w == LIVE ->
		LOCK(f_d, f_l);
		if
		:: f_l != 0 -> f_busy = 1; f_l = 0
		:: else ->
			if
			:: n_w == LIVE && n_k == K -> n_w = 0; n_k = 0; res = f_d; break
			:: else -> n_w = 0; n_k = 0; STEP(UNLOCK(f_d))
			fi
		fi;
		if :: f_d + 1 > f_md -> break :: else -> STEP(f_d++; f_w = state[f_d]) fi
	:: else ->
		if :: f_d + 1 > f_md -> break :: else -> STEP(f_d++; f_w = state[f_d]) fi
	od;
	atomic {
		if :: res == R_ENOENT && f_busy -> res = R_EAGAIN :: else -> skip fi;
		f_w = 0; f_md = 0; f_d = 0; f_busy = 0
	}
}

/* spl__insert of K with the value (v, v).  rc: R_OK, R_EAGAIN, R_EFULL or
 * R_RETRY.  Has labels: use once per proctype. */
inline INSERT(v, rc) {
	i_d = 0; i_skip = 0; i_have = 0;
	do                                       /* claim a FREE slot */
	:: i_d >= NSLOT -> break
	:: else ->
		STEP(i_st = state[i_d]);             /* relaxed load of the tag */
		if
		:: i_st == PENDING ->                /* in flight, or a dead one's */
			i_skip = 1;
			CONTENDED(i_d, i_c);
			if :: i_c -> i_c = 0 :: else -> i_d++ fi   /* recovered: retry it */
		:: i_st == LIVE -> i_d++
		:: i_st == FREE ->
			/* CAS; the seq_cst re-load of the tag is merged (ACQ) */
			STEP(ACQ(i_d, 0, i_c));
			if
			:: !i_c -> i_skip = 1; CONTENDED(i_d, i_c); i_c = 0; i_d++
			:: i_c && n_w == FREE -> i_c = 0; NORMALIZE(i_d); i_have = 1; break
			:: i_c && n_w != FREE -> i_c = 0; STEP(UNLOCK(i_d)); i_d++
			fi;
			n_w = 0; n_k = 0
		fi
	od;
	i_st = 0;
	if
	:: !i_have ->
		if :: i_skip -> rc = R_EAGAIN :: else -> rc = R_EFULL fi;
		i_d = 0; i_skip = 0
	:: else ->
		i_i = i_d; i_d = 0; i_skip = 0; i_have = 0;
		STEP(BUCKET_ADD(i_i, 1));
		STEP(SET_TAG(i_i, PENDING));
#ifndef BROKEN_NO_DEKKER
		/* seq_cst fence (nothing to model under SC); reload maxdist; scan */
		STEP(i_md = md; i_e = 0);
		do
		:: i_e > i_md -> break
		:: i_e <= i_md && i_e == i_i -> i_e++
		:: else ->
			STEP(i_st = state[i_e]);         /* seq_cst load of index[j] */
			if
			:: i_st == PENDING ->            /* another insert of K */
#if PROBE == 3
				assert(false);  /* the Dekker scan meets another PENDING K */
#endif
				rc = R_EAGAIN;
				CONTENDED(i_e, i_c);
				if :: i_c -> i_c = 0; rc = R_RETRY :: else -> skip fi;
				goto back_off
			:: i_st == LIVE ->
				STEP(i_e1 = epoch[i_e]);         /* read_begin */
				STEP(i_same = (key[i_e] == K));  /* key compare */
				STEP(i_c = ((i_e1 & 1) || epoch[i_e] != i_e1)); /* read_retry */
				if
				:: i_c -> i_c = 0; rc = R_EAGAIN; goto back_off
				:: else -> skip
				fi;
				if
				:: i_same ->                      /* K appeared */
#if PROBE == 4
					assert(false);  /* the Dekker scan finds K LIVE */
#endif
					STEP(BUCKET_SUB());
					STEP(BUCKET_ADD(i_e, 0));
					STEP(SET_TAG(i_i, FREE));
					STEP(UNLOCK(i_i));
					rc = R_RETRY;
					goto ins_done
				:: else -> i_e++
				fi
			:: else -> i_e++
			fi
		od;
		atomic { i_st = 0; i_e = 0; i_e1 = 0; i_md = 0; i_same = 0 };
#endif
		/* epoch floor: load it, raise the slot's epoch to it; merged
		 * with write_begin (it only picks the even value the epoch
		 * passes through on its way to odd) */
		STEP(i_f = efloor & 254;
		     if :: i_f > epoch[i_i] -> SET_EPOCH(i_i, i_f) :: else -> skip fi;
		     i_f = 0;
		     WB(i_i, i_odd));
		STEP(key[i_i] = K);
		STEP(va[i_i] = v);
		STEP(vb[i_i] = v);
		STEP(WE(i_i, i_odd));
		STEP(SET_TAG(i_i, LIVE); NEW_INCARNATION(epoch[i_i]));
		STEP(UNLOCK(i_i));
		rc = R_OK;
		goto ins_done;
back_off: skip;
		STEP(SET_TAG(i_i, FREE));
		STEP(BUCKET_SUB());
		STEP(UNLOCK(i_i));
ins_done:
		atomic { i_i = 0; i_e = 0; i_e1 = 0; i_md = 0; i_odd = 0; i_st = 0; i_same = 0 }
	fi
}

/* ---- processes ----------------------------------------------------------- */

#define PROC_LOCALS \
	byte n_e, n_w, n_k, n_odd, c_o; \
	bit  c_ok, c_x

#define WRITER_LOCALS \
	byte l_t, f_w, f_md, f_d, f_l; \
	bit  l_ok, l_c, f_busy; \
	byte i_d, i_st, i_i, i_md, i_e, i_e1, i_odd, i_f; \
	bit  i_c, i_skip, i_have, i_same

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
#if PROBE == 5
			assert(false);
#endif
			STEP(WB(fl, odd));
			STEP(va[fl] = v);
			STEP(vb[fl] = v);
			STEP(WE(fl, odd); SEEN_EPOCH(odd + 1));
			STEP(UNLOCK(fl));
			break
		:: fl == R_EAGAIN -> break
		:: fl == R_ENOENT ->
			INSERT(v, rc);
			if :: rc == R_RETRY -> att++ :: else -> break fi
		fi
	od;
died:
	skip
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
		STEP(WB(fl, odd));
		STEP(key[fl] = NONE);               /* key_len = val_len = labels = 0 */
#ifndef BROKEN_FREE_BEFORE_FLOOR
		STEP(FLOOR_RAISE(odd));
		STEP(SET_TAG(fl, FREE));
#else
		STEP(SET_TAG(fl, FREE));            /* FREE before the epoch settles */
		STEP(FLOOR_RAISE(odd));
#endif
		STEP(WE(fl, odd));
		STEP(UNLOCK(fl));
		STEP(BUCKET_SUB())
#if PROBE == 6
		; assert(false)     /* unset removed K */
#endif
	:: else -> skip
	fi;
died:
	skip
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
	byte r_w, r_md, r_d, t, e1, ra, rb;
	bit  busy, match, r_c;
	STEP(r_w = state[0]; r_md = md);        /* index[home]: tag 0 + bucket */
	do
	:: r_w == LIVE ->
		t = 0;
		do
		:: t >= TRIES -> break
		:: else ->
			STEP(e1 = epoch[r_d]);             /* read_begin */
			if
			:: e1 & 1 ->
				CONTENDED(r_d, r_c);
				if :: r_c -> r_c = 0; t++ :: else -> busy = 1; break fi
			:: else ->
				STEP(match = (key[r_d] == K));   /* key compare */
				if
				:: match -> STEP(ra = va[r_d]); STEP(rb = vb[r_d])
				:: else -> skip
				fi;
#ifndef BROKEN_NO_RECHECK
				STEP(r_c = (epoch[r_d] != e1));   /* read_retry */
				if
				:: r_c ->
#if PROBE == 2
					assert(false);  /* the re-check catches a changed epoch */
#endif
					r_c = 0;
					if :: t == TRIES - 1 -> busy = 1 :: else -> skip fi;
					t++; ra = 0; rb = 0
				:: else ->
#endif
					if
					:: !match -> break
					:: else ->
						/* found: the value must be whole */
						assert(ra == rb && (ra == 1 || ra == 2));
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
		if :: r_d + 1 > r_md -> break :: else -> STEP(r_d++; r_w = state[r_d]) fi
	:: else ->
		if :: r_d + 1 > r_md -> break :: else -> STEP(r_d++; r_w = state[r_d]) fi
	od;
done:
died:
	skip
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
		:: owner[2] != 0 && !ALIVE(owner[2]) -> i = 2
		fi;
		ACQ(i, owner[i], c_ok)
#if PROBE == 9
		; assert(!(n_w == LIVE && !(n_e & 1)))  /* an intact LIVE slot is kept */
#endif
	   };
	   c_ok = 0;
	   NORMALIZE(i);
	   STEP(UNLOCK(i); i = 0; n_w = 0; n_k = 0)
	:: timeout ->
#ifndef LTL_RECOVERY   /* the LTL run checks (4) as liveness instead */
		d_step {
			/* no slot is owned (by the dead or anyone), none is left
			 * PENDING or mid-write */
			assert(owner[0] == 0 && owner[1] == 0 && owner[2] == 0);
			assert(state[0] != PENDING && state[1] != PENDING && state[2] != PENDING);
			assert(!(epoch[0] & 1) && !(epoch[1] & 1) && !(epoch[2] & 1));
			/* what survives is whole, unique and reachable */
			assert(state[0] != LIVE || (key[0] == K && va[0] == vb[0] && va[0] != 0));
			assert(state[1] != LIVE || (key[1] == K && va[1] == vb[1] && va[1] != 0));
			assert(state[2] != LIVE || (key[2] == K && va[2] == vb[2] && va[2] != 0));
			assert(NLIVE <= 1 && LIVE_COVERED && cnt >= NLIVE)
		};
#endif
		break
	od;
died:
	skip
}

#ifdef LTL_RECOVERY
/* (4) as liveness: a slot owned by a dead process is recovered, always
 * eventually.  Check with weak fairness (pan -a -f). */
#define STUCK ((owner[0] != 0 && dead[owner[0]]) || (owner[1] != 0 && dead[owner[1]]) || \
	       (owner[2] != 0 && dead[owner[2]]))
ltl recovered { [] (STUCK -> <> !STUCK) }
#endif

init {
	atomic {
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
