-- Compare-and-swap, atomic on the Redis server: sets KEYS[1] to ARGV[3] if it
-- is absent (ARGV[1] = "0") or holds exactly ARGV[2] (ARGV[1] = "1").
-- Answers 1 if it set the value, 0 if not.
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '0' then
  if current then return 0 end
else
  if current ~= ARGV[2] then return 0 end
end
redis.call('SET', KEYS[1], ARGV[3])
return 1
