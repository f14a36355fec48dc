/*
 * cells.pml - a Promela model of the vector cell arena (docs/VECTORS.md,
 * "Consistency"; src/vec.c), checked with spin by tests/model/run-spin.sh
 * (the checks named cells-*).  Conventions as in slot.pml: every STEP is one
 * atomic step of the real code (one load, store or RMW of shared memory),
 * and before each STEP a killable process may die instead, holding what it
 * held.  Sequentially consistent: the protocol's logic, not C11 orders.
 *
 * Abstractions.  The key index is left out: both keys are always LIVE, X in
 * slot 0 and Y in slot 1, so "delete" is a vector clear (both free the cell
 * the same way, spl__vec_release).  Two slots, two cells (the arena has a
 * cell per slot).  A search validates every scored cell (as if k were at
 * least the number of vectors, so spl__may_enter always says yes).
 *
 * Shared state:
 *   owner[s], epoch[s]  the slot lock and seqlock (spl__lock, spl__write_*)
 *   vs[s]               vec_state: 0, or 1 + the cell the slot names
 *   cseq[c]             the cell's seqlock
 *   cslot[c], cgen[c]   the cell's link: 0 free or 1 + slot; claim count
 *   va[c], vb[c]        the elements, two words written one after the other
 *                       so that a torn read shows; writers of X write 1 or
 *                       2, writers of Y 3 or 4
 *   hint, high          header cell_hint, cell_high
 *
 * Model                      src/vec.c
 *   LOCK (+ NORMALIZE)       spl__key_lock -> spl__lock (its spl__normalize)
 *   NORMALIZE                spl__normalize: odd epoch -> release the vector
 *   RELEASE                  spl__vec_release (+ spl__cell_free, _settle)
 *   TAKE, CLAIM              spl__cell_take, spl__cell_claim
 *   SWEEP, ORPHAN            spl__cell_sweep, spl__cell_orphan
 *   SET, CLEAR               spl_vec_set, spl_vec_clear
 *   proctype searcher        spl__scan_range + spl__cell_check, for one
 *                            cell (either) below the high mark
 *   proctype recoverer       a later caller meeting a dead holder's slot
 *
 * Processes: WX sets X to 1; CX clears X, then sets it to 2 (so one of the
 * two sets of X claims a cell and the other, if it comes second, rewrites
 * it in place); WY sets Y to 3; the searcher searches once; the recoverer
 * stands for later callers.  At most MAXCRASH of WX, CX, WY die.
 *
 * Properties:
 *   (1) a hit's elements were written whole, by a writer of the slot the
 *       hit names (searcher)
 *   (2) INV, in every state (monitor): a slot that is not being written
 *       names no cell, or a cell whose link names it back
 *   (3) NO_ORPHAN, in every state (monitor): a cell linked to a slot is
 *       named by that slot, whichever step a writer died at
 *   (4) a claim never fails with EFULL: only with EAGAIN, and only when its
 *       sweep met a cell whose slot another writer was writing
 *   (5) end state: no slot owned or odd, INV and NO_ORPHAN hold
 *
 * Switches (spin -DNAME):
 *   MAXCRASH=n               how many writers may die (default 1)
 *   ORPHAN_INIT              start with an orphan (a corrupt region: cell 1
 *                            linked to X, which names no cell); (3) is not
 *                            checked, the sweep must free it
 *   BROKEN_CLAIM_THEN_NAME   name the cell after the claim's CAS (the first
 *                            version of src/vec.c): (3) must fail
 *   BROKEN_UNNAME_THEN_FREE  clear vec_state before freeing the cell: (3)
 *                            must fail
 *   BROKEN_NO_CELL_RECHECK   the searcher skips its cell seq re-checks:
 *                            (1) must fail
 *   BROKEN_SWEEP_NO_SELF     the sweep does not free orphans linking the
 *                            claimer's own slot: with ORPHAN_INIT, (4) must
 *                            fail
 *   PROBE=n                  reachability probe n becomes assert(false)
 */

#define NSLOT 2
#define NCELL 2
#define TRIES 2
#ifndef MAXCRASH
#define MAXCRASH 1
#endif
#define NONE 255

#define X 0
#define Y 1
/* process ids = owner ids (0: no owner) */
#define WX  1
#define CX  2
#define WY  3
#define SR  4
#define REC 5
#define NPROC 6

byte owner[NSLOT];
byte epoch[NSLOT];
byte vs[NSLOT];
byte cseq[NCELL];
byte cslot[NCELL];
byte cgen[NCELL];
byte va[NCELL];
byte vb[NCELL];
byte hint;
byte high;
bool dead[NPROC];
byte crashes;

#define STEP(...) \
	if \
	:: atomic { killable && crashes < MAXCRASH -> crashes++; dead[me] = 1 }; goto died \
	:: d_step { __VA_ARGS__ } \
	fi

#ifndef PROBE
#define PROBE 0
#endif

#define NAMES_BACK(s) (vs[s] == 0 || (vs[s] <= NCELL && cslot[vs[s] - 1] == s + 1))
#define INV (((epoch[X] & 1) || NAMES_BACK(X)) && ((epoch[Y] & 1) || NAMES_BACK(Y)))
#define NAMED(c) (cslot[c] == 0 || (cslot[c] <= NSLOT && vs[cslot[c] - 1] == c + 1))
#define NO_ORPHAN (NAMED(0) && NAMED(1))

/* The working variables of a writer (locals; inlines use them). */
#define WRITER_LOCALS \
	byte t_vs, t_c, t_ls, t_lg, t_h, t_from, t_i, t_j, t_n, t_o, t_e1, t_e2, t_v; \
	byte t_round, t_busy; bool t_freed

/* Temporaries are zeroed once dead, so that states differing only in
 * stale temporaries are one state. */
#define CLEAN \
	t_vs = 0; t_ls = 0; t_lg = 0; t_h = 0; t_from = 0; t_i = 0; t_j = 0; t_n = 0; t_o = 0; \
	t_e1 = 0; t_e2 = 0; t_v = 0; t_round = 0; t_busy = 0; t_freed = 0

/* spl__cell_orphan: cell c links slot x.  t_o = 1 orphan, 0 named, 2 busy. */
inline ORPHAN(c, x) {
	STEP(t_e1 = epoch[x]);
	if
	:: (t_e1 & 1) -> t_o = 2
	:: else ->
		STEP(t_v = vs[x]);
		STEP(t_e2 = epoch[x]);
		if
		:: t_e2 != t_e1 -> t_o = 2
		:: t_e2 == t_e1 && t_v != c + 1 -> t_o = 1
		:: else -> t_o = 0
		fi
	fi
}

/* spl__cell_free: settle an odd seq, CAS the link (slot and claim count as
 * read) to free, lower the hint. */
inline CELL_FREE(c, ls, lg) {
	STEP(if :: (cseq[c] & 1) -> cseq[c]++ :: else -> skip fi);
	STEP(if :: cslot[c] == ls && cgen[c] == lg -> cslot[c] = 0; t_freed = 1 :: else -> t_freed = 0 fi);
	if
	:: t_freed -> STEP(if :: hint > c -> hint = c :: else -> skip fi)
	:: else -> skip
	fi
}

/* spl__vec_release (holder of s): free the cell, then unname it. */
inline RELEASE(s) {
#ifdef BROKEN_UNNAME_THEN_FREE
	STEP(t_vs = vs[s]; vs[s] = 0);
#else
	STEP(t_vs = vs[s]);
#endif
	if
	:: t_vs != 0 && t_vs <= NCELL ->
		STEP(t_ls = cslot[t_vs - 1]; t_lg = cgen[t_vs - 1]);
		if
		:: t_ls == s + 1 -> CELL_FREE(t_vs - 1, t_ls, t_lg)
		:: else -> skip
		fi
	:: else -> skip
	fi;
#ifndef BROKEN_UNNAME_THEN_FREE
	STEP(vs[s] = 0)
#endif
}

/* spl__normalize (holder of s): an odd epoch is a dead writer's: drop the
 * vector (the real one frees the key too) and make the epoch even. */
inline NORMALIZE(s) {
	if
	:: (epoch[s] & 1) ->   /* merged: the holder's load of its slot's epoch */
		if :: PROBE == 1 -> assert(false) :: else -> skip fi;
		RELEASE(s);
		STEP(epoch[s]++; CLEAN)
	:: else -> skip
	fi
}

/* spl__lock: the owner CAS; it blocks here where the real call returns
 * SPL_EAGAIN and its caller retries; a dead holder is recovered by the
 * recoverer. */
inline LOCK(s) {
	STEP(owner[s] == 0 -> owner[s] = me);
	NORMALIZE(s)
}

/* spl__cell_take: the first free cell in [from, to); named, then claimed. */
inline TAKE(s, from, to) {
	t_i = from;
	do
	:: t_i >= to -> break
	:: t_i < to ->
		STEP(t_ls = cslot[t_i]; t_lg = cgen[t_i]);
		if
		:: t_ls == 0 ->
#ifndef BROKEN_CLAIM_THEN_NAME
			STEP(vs[s] = t_i + 1);
#endif
			STEP(if :: cslot[t_i] == 0 && cgen[t_i] == t_lg -> cslot[t_i] = s + 1; cgen[t_i]++; t_c = t_i :: else -> skip fi);
#ifdef BROKEN_CLAIM_THEN_NAME
			if :: t_c == t_i -> STEP(vs[s] = t_i + 1) :: else -> skip fi;
#endif
			if :: t_c == t_i -> break :: else -> skip fi
		:: else -> skip
		fi;
		t_i++
	od
}

/* spl__cell_sweep for the claimer of slot self. */
inline SWEEP(self) {
	STEP(t_n = (high < NCELL -> high : NCELL));
	t_j = 0;
	do
	:: t_j >= t_n -> break
	:: t_j < t_n ->
		STEP(t_ls = cslot[t_j]; t_lg = cgen[t_j]);
		t_o = 0;
		if
		:: t_ls == 0 -> skip
#ifndef BROKEN_SWEEP_NO_SELF
		:: t_ls == self + 1 -> t_o = 1
		:: t_ls != 0 && t_ls != self + 1 -> ORPHAN(t_j, t_ls - 1)
#else
		:: t_ls != 0 -> ORPHAN(t_j, t_ls - 1)
#endif
		fi;
		if
		:: t_o == 1 ->
			if :: PROBE == 2 -> assert(false) :: else -> skip fi;
			CELL_FREE(t_j, t_ls, t_lg)
		:: t_o == 2 && t_ls != self + 1 -> t_busy++   /* another writer's slot */
		:: t_o == 2 && t_ls == self + 1 -> skip
		:: else -> skip
		fi;
		t_j++
	od
}

/* spl__cell_claim for slot s (inside its write section): t_c, or NONE
 * (then SPL_EAGAIN, which (4) allows only after a busy sweep). */
inline CLAIM(s) {
	t_round = 0;
	t_busy = 0;
	do
	:: t_round == 2 ->
		STEP(vs[s] = 0);
		assert(t_busy > 0);   /* (4): never SPL_EFULL */
		break
	:: t_round < 2 ->
		STEP(t_h = hint);
		t_from = (t_h < NCELL -> t_h : 0);
		TAKE(s, t_from, NCELL);
		if :: t_c == NONE -> TAKE(s, 0, t_from) :: else -> skip fi;
		if
		:: t_c != NONE ->
			STEP(if :: t_c >= t_h && hint == t_h -> hint = t_c + 1 :: else -> skip fi);
			STEP(if :: high < t_c + 1 -> high = t_c + 1 :: else -> skip fi);
			break
		:: else ->
			if :: t_round == 0 -> SWEEP(s) :: else -> skip fi;
			t_round++
		fi
	od
}

/* spl_vec_set(s, v) */
inline SET(s, v) {
	LOCK(s);
	/* spl__write_begin; merged: the holder's load of its own vec_state
	 * (only the holder writes it) */
	STEP(epoch[s] = epoch[s] | 1; t_vs = vs[s]; t_c = NONE);
	if
	:: t_vs != 0 && t_vs <= NCELL ->
		STEP(if :: cslot[t_vs - 1] == s + 1 -> t_c = t_vs - 1 :: else -> skip fi; t_vs = 0)
	:: else -> t_vs = 0
	fi;
	if
	:: t_c != NONE -> if :: PROBE == 3 -> assert(false) :: else -> skip fi  /* in place */
	:: t_c == NONE -> CLAIM(s)
	fi;
	if
	:: t_c != NONE ->
		STEP(cseq[t_c] = cseq[t_c] | 1);
		STEP(va[t_c] = v);
		STEP(vb[t_c] = v);
		STEP(cseq[t_c]++)
	:: else -> skip
	fi;
	STEP(epoch[s]++; CLEAN; t_c = 0);            /* spl__write_end */
	STEP(owner[s] = 0)
}

/* spl_vec_clear(s) (the real one first checks there is a vector) */
inline CLEAR(s) {
	LOCK(s);
	STEP(epoch[s] = epoch[s] | 1);
	RELEASE(s);
	STEP(epoch[s]++; CLEAN);
	STEP(owner[s] = 0)
}

proctype wx() {
	byte me = WX;
	bool killable = 1;
	WRITER_LOCALS;
	SET(X, 1);
died:
	skip
}

proctype cx() {
	byte me = CX;
	bool killable = 1;
	WRITER_LOCALS;
	CLEAR(X);
	SET(X, 2);
died:
	skip
}

proctype wy() {
	byte me = WY;
	bool killable = 1;
	WRITER_LOCALS;
	SET(Y, 3);
died:
	skip
}

/* spl__scan_range + spl__cell_check on one cell below the high mark. */
proctype searcher() {
	byte me = SR;
	bool killable = 0;
	byte n, c, q, q2, q3, x1, ra, rb, e1, e2, v, tries, vt;
	byte t_o, t_e1, t_e2, t_v;
	STEP(n = (high < NCELL -> high : NCELL));
	/* one cell, either: the scan checks each cell alone, so checking any
	 * one of them at any moment covers the scan (and keeps the state space
	 * small) */
	if :: c = 0 :: c = 1 fi;
	do
	:: c >= n -> break
	:: c < n ->
		tries = 0;
		do
		:: tries >= TRIES -> break                 /* skipped and counted */
		:: tries < TRIES ->
			STEP(q = cseq[c]);
			STEP(x1 = cslot[c]);
			if
			:: x1 == 0 || x1 > NSLOT -> break      /* free (or corrupt) */
			:: else -> skip
			fi;
			if
			:: (q & 1) ->
				ORPHAN(c, x1 - 1);
				if :: t_o == 1 -> break :: else -> tries++; goto next_try fi
			:: else -> skip
			fi;
			STEP(ra = va[c]);
			STEP(rb = vb[c]);
			STEP(q2 = cseq[c]);
#ifndef BROKEN_NO_CELL_RECHECK
			if :: q2 != q -> tries++; goto next_try :: else -> skip fi;
#endif
			vt = 0;
			do
			:: vt >= TRIES -> goto cell_done      /* slot stayed busy: skipped */
			:: vt < TRIES ->
				STEP(e1 = epoch[x1 - 1]);
				if :: (e1 & 1) -> vt++; goto next_check :: else -> skip fi;
				STEP(v = vs[x1 - 1]);
				STEP(q3 = cseq[c]);
				STEP(e2 = epoch[x1 - 1]);
				if :: e2 != e1 -> vt++; goto next_check :: else -> skip fi;
				if :: v != c + 1 -> goto cell_done :: else -> skip fi;   /* not its vector */
#ifndef BROKEN_NO_CELL_RECHECK
				if :: q3 != q -> tries++; goto next_try :: else -> skip fi;  /* moved: again */
#endif
				/* a hit: property (1) */
				if :: PROBE == 4 -> assert(false) :: else -> skip fi;
				assert(ra == rb);
				assert((x1 - 1 == X && (ra == 1 || ra == 2)) || (x1 - 1 == Y && (ra == 3 || ra == 4)));
				goto cell_done;
next_check:
				skip
			od
next_try:
			skip
		od;
cell_done:
		skip;
		d_step { c = NCELL; q = 0; q2 = 0; q3 = 0; x1 = 0; ra = 0; rb = 0; e1 = 0; e2 = 0; v = 0; tries = 0; vt = 0; t_o = 0; t_e1 = 0; t_e2 = 0; t_v = 0 }
	od;
died:
	skip
}

/* A later caller: recovers any slot a dead writer holds (spl__contended ->
 * spl__recover -> spl__normalize), then, once nothing else can move,
 * checks the end state (5). */
proctype recoverer() {
	byte me = REC;
	bool killable = 0;
	WRITER_LOCALS;
	byte s;
	do
	:: atomic { owner[X] != 0 && dead[owner[X]] -> owner[X] = REC; s = X }
		NORMALIZE(s); STEP(owner[s] = 0)
	:: atomic { owner[Y] != 0 && dead[owner[Y]] -> owner[Y] = REC; s = Y }
		NORMALIZE(s); STEP(owner[s] = 0)
	:: timeout -> break
	od;
	assert(owner[X] == 0 && owner[Y] == 0 && !(epoch[X] & 1) && !(epoch[Y] & 1));
	assert(INV);
#ifndef ORPHAN_INIT
	assert(NO_ORPHAN);
#endif
died:
	skip
}

/* (2) and (3) in every reachable state: this process can run at any point,
 * and its guard is the violation. */
proctype monitor() {
#ifdef ORPHAN_INIT
end:	atomic { !INV -> assert(INV) }
#else
end:	atomic { !(INV && NO_ORPHAN) -> assert(INV); assert(NO_ORPHAN) }
#endif
}

init {
	atomic {
#ifdef ORPHAN_INIT
		/* a corrupt region: cell 1 linked to X, which names no cell */
		cslot[1] = X + 1; cgen[1] = 1; high = 2;
#endif
		run monitor(); run wx(); run recoverer();
#ifndef NO_CX
		run cx();
#endif
#ifndef NO_WY
		run wy();
#endif
#ifndef NO_SR
		run searcher()
#endif
	}
}
