/*
 * undo.pml - a Promela model of the undo records (docs/PROTOCOL.md, "A
 * writer's death loses nothing"; src/kv.c spl__undo_arm, spl__undo_done,
 * spl__undo_reclaim, spl__undo_settle, spl__repair, spl__recover) with TWO
 * keys, checked with spin by tests/model/run-spin.sh (the checks named
 * undo-*).  slot.pml has one key, so a record is only ever armed for K's
 * slot; here two writers overwrite two keys that share the records, so a
 * reclaim of one key's record can meet the recovery of the other's slot.
 * Conventions as in slot.pml: every STEP is one atomic step of the real
 * code (one load, store or RMW of shared memory), and before each STEP a
 * killable process may die instead, holding what it held.  Sequentially
 * consistent: the protocol's logic, not C11 orders.
 *
 * Abstractions.  The key index is left out: X lives in slot 0 and Y in
 * slot 1, both LIVE throughout (the writers only overwrite), so spl__repair
 * always takes its "a LIVE word names the slot" branch.  find_locked is
 * spl__lock on the key's slot.  No reader (slot.pml checks reads).
 *
 * Shared state:
 *   owner[s], epoch[s]  the slot lock and seqlock
 *   va[s], vb[s]        the value, two words written one after the other
 *   uown[r], uarm[r], uep[r], uval[r]  undo record r: owner, armed (0 or
 *                       1 + slot), the even epoch it covers, the value
 *
 * Processes: WX sets X to 1, WY sets Y to 3 (X starts as 5, Y as 6), each
 * one spl_set; WX2 (unless NO_WX2) sets X to 2; a recoverer stands for
 * later callers.  At most MAXCRASH writers die.
 *
 * Properties:
 *   (6) when the recovery of a slot whose writer died ends, the slot holds
 *       its old value or the dead writer's, whole
 *   end state: no slot owned or odd, no record armed, every value whole
 *
 * Switches (spin -DNAME):
 *   MAXCRASH=n         how many writers may die (default 2)
 *   NUNDO=n            undo records (default 1)
 *   BROKEN_SETTLE_STORE spl__undo_settle disarms a record with a plain store
 *                      of 0 (the first format-3 src/kv.c, which this model
 *                      found wrong: README.md, "Found"); src/kv.c now uses a
 *                      CAS from "armed for this slot" to 0: (6) must fail
 *   PROBE=n            reachability probe n becomes assert(false)
 *   NO_WX2             leave WX2 out
 */

#define NSLOT 2
#ifndef MAXCRASH
#define MAXCRASH 2
#endif
#ifndef NUNDO
#define NUNDO 1
#endif
#define NOEP 255

#define X 0
#define Y 1
/* process ids = owner ids (0: no owner) */
#define WX  1
#define WY  2
#define WX2 3
#define REC 4
#define NPROC 5

byte owner[NSLOT];
byte epoch[NSLOT];
byte va[NSLOT];
byte vb[NSLOT];
byte uown[NUNDO];
byte uarm[NUNDO];
byte uep[NUNDO];
byte uval[NUNDO];
bool dead[NPROC];
byte crashes;
byte g_who[NSLOT];   /* ghost: the value the slot's writer is writing (0: none) */
byte g_old[NSLOT];   /* ghost: the slot's value before it */

#define STEP(...) \
	if \
	:: atomic { killable && crashes < MAXCRASH -> crashes++; dead[me] = 1 }; goto died \
	:: d_step { __VA_ARGS__ } \
	fi

#ifndef PROBE
#define PROBE 0
#endif

#define WHOLE(s) (va[s] == vb[s] && va[s] != 0)

inline SET_EPOCH(i, v) {
	assert(v >= epoch[i]);
	epoch[i] = v
}

/* spl__undo_settle (caller holds slot j) */
inline UNDO_SETTLE(j, even) {
	u_r = 0;
	do
	:: u_r >= NUNDO -> break
	:: else ->
		STEP(u_a = uarm[u_r]);
		if
		:: u_a == j + 1 ->
			STEP(u_m = (uep[u_r] == even));
			if
			:: u_m ->
#if PROBE == 1
				assert(false);  /* recovery restores a value */
#endif
				STEP(va[j] = uval[u_r]);
				STEP(vb[j] = uval[u_r])
			:: else -> skip
			fi;
#ifdef BROKEN_SETTLE_STORE
			STEP(uarm[u_r] = 0; u_m = 0)
#else
			STEP(if :: uarm[u_r] == j + 1 -> uarm[u_r] = 0 :: else -> skip fi; u_m = 0)
#endif
		:: else -> skip
		fi;
		atomic { u_a = 0; u_r++ }
	od;
	u_r = 0
}

/* spl__repair: the holder of j loaded its epoch into n_e (merged into the
 * owner CAS: only the holder writes it).  The word naming j is LIVE. */
inline REPAIR(j, rep) {
	if
	:: !(n_e & 1) -> rep = 0
	:: else ->
		rep = 1;
		UNDO_SETTLE(j, n_e - 1);
		STEP(SET_EPOCH(j, n_e + 1); n_e = n_e + 1)
	fi
}

/* (6) when the recovery of slot i ends */
inline CHECK6(i) {
	if
	:: g_who[i] == 0 -> skip
	:: else -> assert(WHOLE(i) && (va[i] == g_old[i] || va[i] == g_who[i]))
	fi;
	g_who[i] = 0; g_old[i] = 0
}

inline ACQ(i, exp, ok) {
	if
	:: owner[i] == exp -> owner[i] = me; ok = 1; n_e = epoch[i]
	:: else -> ok = 0
	fi
}

/* spl__recover after its CAS succeeded */
inline RECOVERED(i) {
	REPAIR(i, c_rep);
	if
	:: !c_rep ->
#if PROBE == 2
		assert(uarm[0] != i + 1);  /* a recovery at an even epoch meets an armed record */
#endif
		UNDO_SETTLE(i, NOEP)
	:: else -> skip
	fi;
	STEP(CHECK6(i); owner[i] = 0; c_rep = 0; n_e = 0)
}

/* spl__contended (dead owner: load + liveness + CAS merged, as in
 * slot.pml; owner 0 with an odd epoch only arises from corruption here:
 * left out) */
inline CONTENDED(i, ret) {
	ret = 0;
	if
	:: skip
	:: STEP(c_o = owner[i];
		if :: c_o != 0 && dead[c_o] -> ACQ(i, c_o, c_ok) :: else -> c_ok = 0 fi);
	   c_o = 0;
	   if
	   :: c_ok -> c_ok = 0; RECOVERED(i); ret = 1
	   :: else -> skip
	   fi
	fi
}

/* spl__lock: ret 0 locked, 1 busy (SPL_EAGAIN) */
inline LOCK(i, ret) {
	l_t = 0; ret = 1;
	do
	:: l_t < 2 ->
		STEP(ACQ(i, 0, l_ok));
		if
		:: l_ok -> l_ok = 0; l_t = 0; REPAIR(i, l_rep); l_rep = 0; n_e = 0; ret = 0; break
		:: else ->
			CONTENDED(i, l_c);
			if :: l_c -> l_c = 0; l_t++ :: else -> l_t = 0; break fi
		fi
	:: else -> l_t = 0; break
	od
}

/* spl__undo_reclaim */
inline RECLAIM() {
	k_r = 0;
	do
	:: k_r >= NUNDO -> break
	:: else ->
		STEP(k_o = uown[k_r]; k_x = (k_o != 0 && dead[k_o]));
		if
		:: k_x ->
			k_x = 0;
			STEP(k_a = uarm[k_r]);
			if
			:: k_a != 0 && k_a <= NSLOT ->
				STEP(k_e = epoch[k_a - 1]);
				STEP(k_x = ((k_e & 1) && k_e == uep[k_r] + 1); k_e = 0)
			:: else -> skip
			fi;
			if
			:: k_x ->
#if PROBE == 3
				assert(false);      /* a reclaim nudges a slot to recovery */
#endif
				k_x = 0; CONTENDED(k_a - 1, k_c); k_c = 0
			:: else ->
				STEP(if :: uown[k_r] == k_o -> uown[k_r] = me; k_x = 1 :: else -> skip fi);
				if
				:: k_x ->
#if PROBE == 4
					assert(k_a == 0);  /* a reclaim takes back an armed record */
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

/* spl__undo_arm (the holder of slot i): ret 1 armed record u_u */
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

#define LOCALS \
	byte n_e, c_o, u_r, u_a, u_u, u_pass, k_r, k_o, k_a, k_e, l_t, odd; \
	bit c_ok, c_rep, u_m, k_x, k_c, l_ok, l_c, l_rep, ok

#define CLEAN \
	n_e = 0; c_o = 0; u_r = 0; u_a = 0; u_u = 0; u_pass = 0; k_r = 0; k_o = 0; k_a = 0; \
	k_e = 0; l_t = 0; odd = 0; c_ok = 0; c_rep = 0; u_m = 0; k_x = 0; k_c = 0; \
	l_ok = 0; l_c = 0; l_rep = 0; ok = 0

/* spl_set of the key in slot s to (v, v): the in-place overwrite */
proctype writer(byte me; byte s; byte v) {
	bool killable = 1;
	LOCALS;
	LOCK(s, ok);
	if
	:: ok -> ok = 0                          /* SPL_EAGAIN */
	:: else ->
		d_step { assert(WHOLE(s)); g_who[s] = v; g_old[s] = va[s] };
		UNDO_ARM(s, ok, v);
		if
		:: !ok -> STEP(owner[s] = 0; g_who[s] = 0; g_old[s] = 0)
		:: else ->
			ok = 0;
			STEP(odd = epoch[s] | 1; SET_EPOCH(s, odd));
			STEP(va[s] = v);
			STEP(vb[s] = v);
			STEP(SET_EPOCH(s, odd + 1));
			STEP(uarm[u_u] = 0);
			STEP(uown[u_u] = 0);
			STEP(owner[s] = 0; g_who[s] = 0; g_old[s] = 0)
		fi
	fi;
died:	skip;
	d_step { CLEAN }
}

proctype recoverer() {
	byte me = REC;
	bool killable = 0;
	LOCALS;
	byte i;
end_rec:
	do
	:: atomic {
		if
		:: owner[X] != 0 && dead[owner[X]] -> i = X
		:: owner[Y] != 0 && dead[owner[Y]] -> i = Y
		fi;
		ACQ(i, owner[i], c_ok)
	   };
	   c_ok = 0;
	   RECOVERED(i);
	   i = 0
	:: timeout ->
		d_step {
			assert(owner[X] == 0 && owner[Y] == 0);
			assert(!(epoch[X] & 1) && !(epoch[Y] & 1));
			assert(WHOLE(X) && WHOLE(Y));
			assert(uarm[0] == 0)
#if NUNDO > 1
			; assert(uarm[1] == 0)
#endif
		};
		break
	od;
died:	skip
}

init {
	atomic {
		va[X] = 5; vb[X] = 5; va[Y] = 6; vb[Y] = 6;
		run writer(WX, X, 1);
		run writer(WY, Y, 3);
#ifndef NO_WX2
		run writer(WX2, X, 2);
#endif
		run recoverer()
	}
}
