"""The Lua script the Redis store runs for an atomic, fenced save of one stream.

It is generated per layout (header, ring geometry, TTL and policy baked in), so a call
sends only ``since_step``, the meta body and the changed ring rows."""

from __future__ import annotations

import hashlib

from tcnad.state.codec import StateCodec
from tcnad.state.patch import BASE_BYTES, POS_BYTES

_SAVE_TEMPLATE = """\
-- KEYS: meta, rings. ARGV: since_step (decimal), meta body, changed ring rows, and a mode:
-- none for a body and rows, "1" when the rows are the whole rings blob instead (a state
-- stored in another ring dtype), "p" when ARGV[2] is a stats patch (tcnad.state.patch)
-- instead of the body: the new position, the base's, then runs of changed stats. A patch
-- applies only to a stored body of this layout whose position is its base's; the body it
-- makes is then saved like any other.
-- Returns 1 applied, 2 already applied (stored body equals the update's), 0 fenced.
-- REWRITE: an already applied save writes the meta again (same bytes, same TTL), so a WAIT
-- after it also covers the earlier write that it repeats.
-- A stored meta of format 1 (OLD: same layout, body without the source) counts as a state
-- at its step; so does one of an older known stats layout or another ring dtype (OLDER:
-- header, its length, size and whether its rings are of another dtype, in format 2 and 1,
-- which a load migrates). The update rewrites any of them in the current format and
-- layout; rings of another dtype take no rows, only a whole blob (or a save from step 0).
local HEAD = "{head}"
local HL = {head_len}
local SIZE = {meta_size}
local OLD = "{old_head}"
local OLD_HL = {old_head_len}
local OLD_SIZE = {old_meta_size}
local OLDER = {{{older}}}
local RESET = {reset}
local TTL = {ttl_ms}
local REWRITE = {rewrite}
local RINGS = {{{rings}}}
local POS = {pos_bytes}
local BASE = {base_bytes}
local since = tonumber(ARGV[1])
local body = ARGV[2]
local rows = ARGV[3]
local whole = ARGV[4] == '1'
local patch = ARGV[4] == 'p'
-- The stored meta with the patch applied (nil: malformed): its header, the patch's new
-- position, and the stored stats with the patch's runs in place.
local sub, read = string.sub, struct.unpack  -- locals: a patch takes ~20 calls of each
local function patched(old)
  local parts, np = {{sub(old, 1, HL), sub(body, 1, POS)}}, 2
  local cur, i, n = HL + POS + 1, POS + BASE + 1, #body
  while i <= n do
    local start, count = read('<I4I4', body, i)
    local at = HL + POS + 1 + start * 8
    local stop = i + 8 + count * 8  -- past this record
    if count < 1 or at < cur or at + count * 8 - 1 > #old or stop - 1 > n then
      return nil
    end
    parts[np + 1] = sub(old, cur, at - 1)
    parts[np + 2] = sub(body, i + 8, stop - 1)
    np = np + 2
    i = stop
    cur = at + count * 8
  end
  parts[np + 1] = sub(old, cur)
  return table.concat(parts)
end
local stored = redis.call('GET', KEYS[1])
local meta = nil  -- a patch's result: the whole meta to store
if patch then
  if not stored or #stored ~= SIZE or string.sub(stored, 1, HL) ~= HEAD then return 0 end
  meta = patched(stored)
  if not meta then return redis.error_reply('ERR tcnad: malformed stats patch') end
  if struct.unpack('<i8', stored, HL + 1) == since
      and string.sub(stored, HL + 9, HL + POS) ~= string.sub(body, POS + 1, POS + BASE) then
    return 0  -- the stored state at since_step is not the patch's base
  end
end
if stored then
  local at = 0
  local other = false
  if #stored == SIZE and string.sub(stored, 1, HL) == HEAD then
    at = HL
  elseif #stored == OLD_SIZE and string.sub(stored, 1, OLD_HL) == OLD then
    at = OLD_HL
  else
    for _, o in ipairs(OLDER) do
      if #stored == o[3] and string.sub(stored, 1, o[2]) == o[1] then
        at = o[2]
        other = o[4]
        break
      end
    end
  end
  if at > 0 then
    local current = struct.unpack('<i8', stored, at + 1)
    if current ~= since then
      if at == HL and (meta == stored or not meta and string.sub(stored, HL + 1) == body) then
        if REWRITE then redis.call('SET', KEYS[1], stored, 'KEEPTTL') end
        return 2
      end
      return 0
    end
    if other and not whole and since ~= 0 then return 0 end
  elseif since ~= 0 or not RESET then
    return 0
  end
elseif since ~= 0 then
  return 0
end
local step = struct.unpack('<i8', body)  -- a patch too begins with the new position
meta = meta or HEAD .. body
if whole then
  redis.call('SET', KEYS[2], rows)
else
  if since == 0 then redis.call('DEL', KEYS[2]) end
  local pos = 1
  for _, g in ipairs(RINGS) do
    local base, len, row = g[1], g[2], g[3]
    local n = math.min(step - since, len)
    if n > 0 then
      local start = (step - n) % len
      local first = math.min(n, len - start)
      redis.call('SETRANGE', KEYS[2], base + start * row,
                 string.sub(rows, pos, pos + first * row - 1))
      if n > first then
        redis.call('SETRANGE', KEYS[2], base,
                   string.sub(rows, pos + first * row, pos + n * row - 1))
      end
      pos = pos + n * row
    end
  end
end
if TTL > 0 then
  redis.call('SET', KEYS[1], meta, 'PX', TTL)
  redis.call('PEXPIRE', KEYS[2], TTL)
else
  redis.call('SET', KEYS[1], meta)
  redis.call('PERSIST', KEYS[2])
end
return 1
"""


def lua_bytes(data: bytes) -> str:
    """A Lua string literal body with every byte as a 3-digit decimal escape."""
    return "".join(f"\\{b:03d}" for b in data)


def save_script(codec: StateCodec, reset: bool, ttl_ms: int, rewrite: bool = False) -> str:
    """The save script for one layout; see the template for its contract. ``rewrite``:
    a save found already applied writes its meta again (for saves followed by WAIT)."""
    rings = ", ".join(
        f"{{{base}, {length}, {row}}}"
        for base, (length, _), row in zip(
            codec.ring_base, codec.layout.ring_shapes, codec.row_bytes, strict=True
        )
    )
    older = ", ".join(
        f'{{"{lua_bytes(k.header)}", {len(k.header)}, {k.meta_size}, {str(other).lower()}}}'
        for k, other in codec.older_metas()
    )
    return _SAVE_TEMPLATE.format(
        head=lua_bytes(codec.header),
        head_len=len(codec.header),
        meta_size=codec.meta_size,
        old_head=lua_bytes(codec.old_header),
        old_head_len=len(codec.old_header),
        old_meta_size=codec.old_meta_size,
        older=older,
        reset="true" if reset else "false",
        ttl_ms=ttl_ms,
        rewrite="true" if rewrite else "false",
        rings=rings,
        pos_bytes=POS_BYTES,
        base_bytes=BASE_BYTES,
    )


def sha1(script: str) -> str:
    """The SHA1 Redis files a script under (EVALSHA's key)."""
    return hashlib.sha1(script.encode("utf-8")).hexdigest()
