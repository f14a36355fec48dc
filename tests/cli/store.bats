# splinterctl store commands: init/create, use/open, info, destroy, and the
# store-error rows (missing, corrupt, permission, no store given).
load common

@test "init: --json describes the new store with its geometry" {
    run -0 --separate-stderr ctl init s2 --slots 100 --key-max 20 --value-size 128 --vec-dim 0 --json
    [ "$(j .store)" = s2 ]
    [ "$(j .backing)" = shm ]
    [ "$(j .geometry.slots)" = 100 ]   # exact: no rounding
    [ "$(j .geometry.key_max)" = 20 ]
    [ "$(j .geometry.value_size)" = 128 ]
    [ "$(j .geometry.vec_dim)" = 0 ]
    [ "$(j .used)" = 0 ]
    [ -f "$SPLINTER_SHM_DIR/s2" ]
}

@test "create (alias) makes a FILE store at a path, mode 0600" {
    run -0 --separate-stderr ctl create "$TMP/f.spl" --vec-dim 0 --json
    [ "$(j .backing)" = file ]
    [ "$(stat -c %a "$TMP/f.spl")" = 600 ]
}

@test "init with --mode 0660 on a file is group-shared" {
    run -0 --separate-stderr ctl init "$TMP/g.spl" --vec-dim 0 --mode 0660 -q
    [ "$(stat -c %a "$TMP/g.spl")" = 660 ]
}

@test "init: an existing store is a store error (4), --if-missing opens it" {
    run -4 --separate-stderr ctl init t --slots 64 --key-max 16 --value-size 64 --vec-dim 0
    [[ "$stderr" == *SPL_EEXIST* ]]
    run -0 --separate-stderr ctl init t --slots 64 --key-max 16 --value-size 64 --vec-dim 0 --if-missing --json
    [ "$(j .store)" = t ]
    run -4 --separate-stderr ctl init t --slots 128 --if-missing
    [[ "$stderr" == *SPL_EGEOMETRY* ]]
}

@test "init: bad geometry, bad backing, bad mode, bad name are usage errors (2)" {
    run -2 --separate-stderr ctl init x --value-size 2 --json
    [ "$(j .error)" = SPL_EFORMAT ]
    [ "$(j .exit)" = 2 ]
    run -2 --separate-stderr ctl init x --slots lots
    run -2 --separate-stderr ctl init x --backing memfd
    run -2 --separate-stderr ctl init x --mode 0666
    run -2 --separate-stderr ctl init .hidden
    [[ "$stderr" == *SPL_ENAME* ]]
    run -2 --separate-stderr ctl init x --nonsense
    [ ! -e "$SPLINTER_SHM_DIR/x" ]
}

@test "info: geometry, usage, load, epochs, changes, build features" {
    ctl set a 1
    ctl set b 2
    ctl set a 3
    run -0 --separate-stderr ctl info --json
    [ "$(j .used)" = 2 ]
    [ "$(j .load)" = 0.03125 ]
    [ "$(j .changes)" = 3 ]
    [ "$(j .epoch_max)" = 4 ]
    [ "$(j .recoveries)" = 0 ]
    [ "$(j .geometry.value_size)" = 64 ]
    j '.build.version' > /dev/null
    j '.build | has("lua")'
    run -0 --separate-stderr ctl info
    [[ "$output" == *"used        2 of 64 keys (62 slots free), load 0.031"* ]]
    run -2 --separate-stderr ctl info extra
}

@test "capacity is exact: --slots 1000 holds 1000 imported keys, the 1001st is SPL_EFULL (4)" {
    ctl init cap --slots 1000 --vec-dim 0 -q
    for i in $(seq 1 1000); do printf '{"key":"k%d","value":"v%d"}\n' "$i" "$i"; done > "$TMP/keys.jsonl"
    run -0 --separate-stderr ctl --store cap import "$TMP/keys.jsonl"
    run -0 --separate-stderr ctl --store cap info --json
    [ "$(j .capacity)" = 1000 ]
    [ "$(j .used)" = 1000 ]
    [ "$(j .free)" = 0 ]
    run -4 --separate-stderr ctl --store cap set k1001 x
    [[ "$stderr" == *SPL_EFULL* ]]
    run -0 --separate-stderr ctl --store cap set k500 again   # an overwrite needs no slot
    run -0 --separate-stderr ctl --store cap unset k7
    run -0 --separate-stderr ctl --store cap set k1001 x
    run -0 --separate-stderr ctl --store cap info
    [[ "$output" == *"used        1000 of 1000 keys (0 slots free)"* ]]
}

@test "use/open: checks a store opens; missing is a store error (4)" {
    run -0 --separate-stderr ctl use t --json
    [ "$(j .store)" = t ]
    run -0 --separate-stderr ctl open t -q
    [ -z "$output" ]
    run -4 --separate-stderr ctl use nosuch --json
    [ "$(j .error)" = SPL_ENOENT ]
    [ "$(j .exit)" = 4 ]
    run -2 --separate-stderr ctl use
}

@test "missing store: every store command exits 4, not 1" {
    for cmd in "info" "get k" "set k v" "list" "export" "top --once" "bench"; do
        run -4 --separate-stderr ctl --store nosuch $cmd
        [[ "$stderr" == *"store 'nosuch'"*SPL_ENOENT* ]]
    done
}

@test "no store given at all is a usage error (2)" {
    unset SPLINTER_STORE
    run -2 --separate-stderr ctl get k
    [[ "$stderr" == *"no store"* ]]
}

@test "corrupt store (garbage file) is a store error (4)" {
    head -c 8192 /dev/urandom > "$TMP/bad.spl"
    chmod 600 "$TMP/bad.spl"
    run -4 --separate-stderr ctl --store "$TMP/bad.spl" info --json
    [ "$(j .error)" = SPL_EMAGIC ]
}

@test "permission: a world-readable store file is refused (4)" {
    ctl init "$TMP/p.spl" --vec-dim 0 -q
    chmod 644 "$TMP/p.spl"
    run -4 --separate-stderr ctl --store "$TMP/p.spl" info --json
    [ "$(j .error)" = SPL_EMODE ]
}

@test "not a regular file is a store error (4)" {
    mkdir "$TMP/dir.spl"
    run -4 --separate-stderr ctl --store "$TMP/dir.spl" info --json
    [ "$(j .error)" = SPL_ENOTREG ]
}

@test "destroy removes the store; again is 4" {
    ctl init gone --vec-dim 0 -q
    run -0 --separate-stderr ctl destroy gone --json
    [ "$(j .destroyed)" = gone ]
    [ ! -e "$SPLINTER_SHM_DIR/gone" ]
    run -4 --separate-stderr ctl destroy gone
    run -4 --separate-stderr ctl --store gone info
    run -0 --separate-stderr ctl destroy     # the current store ($SPLINTER_STORE=t)
    [ ! -e "$SPLINTER_SHM_DIR/t" ]
}
