;; The warm-up component (weft_aot::warm_up): shaped like the components apps
;; are made of, so that loading it runs the code a launch's loading runs. An
;; imported interface with a resource, records, variants, enums, options,
;; results, lists and strings; a core module with a memory, a table, globals and
;; a realloc; lowered imports and lifted exports with their canonical options.
;; A spare runtime loads it and drops it: nothing of it is ever run.
(component
  (import "weft:warm-up/host" (instance $host
    (type $error (enum "denied" "missing"))
    (export "error" (type $e (eq $error)))
    (type $entry (record (field "name" string) (field "size" u64) (field "tags" (list string))))
    (export "entry" (type $n (eq $entry)))
    (type $kind (variant (case "file" $n) (case "dir" string) (case "none")))
    (export "kind" (type $k (eq $kind)))
    (export "item" (type $item (sub resource)))
    (export "look" (func (param "path" string) (result (result $k (error $e)))))
    (export "open" (func (param "name" string) (result (own $item))))
    (export "[method]item.read"
      (func (param "self" (borrow $item)) (param "len" u64) (result (result (list u8) (error $e)))))
    (export "flags" (func (result (option (tuple u32 string)))))
  ))
  (core module $libc
    (memory (export "memory") 1)
    (global $top (mut i32) (i32.const 1024))
    (func (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $at i32)
      global.get $top
      local.set $at
      global.get $top
      local.get 3
      i32.add
      global.set $top
      local.get $at)
  )
  (core instance $libc (instantiate $libc))
  (alias export $host "look" (func $look))
  (alias export $host "flags" (func $flags))
  (core func $look_lowered
    (canon lower (func $look) (memory $libc "memory") (realloc (func $libc "realloc")) string-encoding=utf8))
  (core func $flags_lowered
    (canon lower (func $flags) (memory $libc "memory") (realloc (func $libc "realloc"))))
  (core module $main
    (import "host" "look" (func $look (param i32 i32 i32)))
    (import "host" "flags" (func $flags (param i32)))
    (import "libc" "memory" (memory 1))
    (table 2 funcref)
    (elem (i32.const 0) func $look $flags)
    (func (export "run") (result i32)
      i32.const 16
      call $flags
      i32.const 0)
    (func (export "describe") (param i32 i32) (result i32)
      i32.const 64)
  )
  (core instance $main (instantiate $main
    (with "host" (instance (export "look" (func $look_lowered)) (export "flags" (func $flags_lowered))))
    (with "libc" (instance $libc))))
  (func $run (result (result)) (canon lift (core func $main "run")))
  (func $describe (param "what" string) (result (list string))
    (canon lift (core func $main "describe") (memory $libc "memory") (realloc (func $libc "realloc"))))
  (instance $api (export "run" (func $run)) (export "describe" (func $describe)))
  (export "weft:warm-up/api" (instance $api))
)
