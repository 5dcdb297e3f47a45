-- wrk script for bench/update-throughput.sh: dyndns2 updates over keep-alive connections.
--
--   wrk -t THREADS ... -s update-throughput.lua URL -- MODE HOSTS ZONE AUTH FIRST_OCTET THREADS [PROTO]
--
-- MODE "change": request j (numbered across wrk's threads) updates host h(j mod HOSTS) to
--   FIRST_OCTET.x.y.z, where x.y.z encodes the round j div HOSTS: every request names an
--   address its host never had, so each one must answer `good`.
-- MODE "nochg": request j sends host h(j mod HOSTS) the address it was imported with
--   (198.18.0.0/15, repeating, as the script's hosts.txt), so each one must answer `nochg`.
-- AUTH is the Authorization header: `Basic` and the base64 of `login:secret` (the password or
--   an update key), or `Bearer` and an API-scope key; or `hostkey:LOGIN`: LOGIN with host
--   hN's own key, `dyn53_hk` and N on 30 digits (update-throughput.sh's host_keys).
-- PROTO "dyndns2" (default): GET /nic/update; "api": POST /api/v1/hosts/HOST/update with
--   a JSON body, answered {"result":"good"|"nochg",...}.
-- `done` prints one line, RESULT key=value..., that the script parses.

local bit = require("bit") -- wrk runs LuaJIT (Lua 5.1): no bit operators
local threads = {}

function setup(thread)
    thread:set("id", #threads)
    table.insert(threads, thread)
end

function init(args)
    mode, hosts, zone, first_octet = args[1], tonumber(args[2]), args[3], tonumber(args[5])
    -- `setup` filled `threads` in the main Lua state; each thread has a state of its own.
    nthreads = tonumber(args[6])
    host_key_login = args[4]:match("^hostkey:(.*)$")
    if not host_key_login then
        wrk.headers["Authorization"] = args[4]
    end
    api = args[7] == "api"
    if api then
        wrk.headers["Content-Type"] = "application/json"
    end
    wrk.headers["User-Agent"] = "dyn53-bench/1"
    counter, good, nochg, other = 0, 0, 0, 0
end

local BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

local function base64(s)
    local out = {}
    for i = 1, #s, 3 do
        local a, b, c = s:byte(i, i + 2)
        local n = a * 65536 + (b or 0) * 256 + (c or 0)
        for k, shift in ipairs({ 18, 12, 6, 0 }) do
            local at = bit.band(bit.rshift(n, shift), 63) + 1
            out[#out + 1] = (k == 3 and not b or k == 4 and not c) and "=" or BASE64:sub(at, at)
        end
    end
    return table.concat(out)
end

-- Host n's request headers when it uses its own key: wrk's, and its Authorization, in one
-- table made once (wrk.format reads it at once).
local key_headers
local function host_key_headers(n)
    if not key_headers then
        key_headers = {}
        for name, value in pairs(wrk.headers) do
            key_headers[name] = value
        end
    end
    local secret = string.format("dyn53_hk%030d", n)
    key_headers["Authorization"] = "Basic " .. base64(host_key_login .. ":" .. secret)
    return key_headers
end

-- The address hosts.txt gave host n: 198.18.0.0/15, repeating beyond 131,072 hosts.
local function imported(n)
    n = (n + 1) % 131072
    return string.format("198.%d.%d.%d", 18 + bit.rshift(n, 16), bit.band(bit.rshift(n, 8), 255),
        bit.band(n, 255))
end

function request()
    local j = counter * nthreads + id
    counter = counter + 1
    local host = j % hosts
    local ip
    if mode == "change" then
        local round = math.floor(j / hosts)
        ip = string.format("%d.%d.%d.%d", first_octet, bit.band(bit.rshift(round, 16), 255),
            bit.band(bit.rshift(round, 8), 255), bit.band(round, 255))
    else
        ip = imported(host)
    end
    if api then
        return wrk.format("POST", "/api/v1/hosts/h" .. host .. "." .. zone .. "/update", nil,
            '{"ipv4":"' .. ip .. '"}')
    end
    local headers = host_key_login and host_key_headers(host) or nil
    return wrk.format("GET", "/nic/update?hostname=h" .. host .. "." .. zone .. "&myip=" .. ip,
        headers)
end

function response(status, headers, body)
    if body:sub(1, 5) == "good " or body:sub(1, 16) == '{"result":"good"' then
        good = good + 1
    elseif body:sub(1, 6) == "nochg " or body:sub(1, 17) == '{"result":"nochg"' then
        nochg = nochg + 1
    else
        other = other + 1
        if other <= 3 then
            io.stderr:write("unexpected answer: " .. status .. " " .. body .. "\n")
        end
    end
end

function done(summary, latency, requests)
    local g, n, o = 0, 0, 0
    for _, thread in ipairs(threads) do
        g = g + thread:get("good")
        n = n + thread:get("nochg")
        o = o + thread:get("other")
    end
    local e = summary.errors
    io.write(string.format(
        "RESULT requests=%d seconds=%.3f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f good=%d nochg=%d other=%d errors=%d\n",
        summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3,
        latency:percentile(99) / 1e3, latency.max / 1e3, g, n, o,
        e.connect + e.read + e.write + e.status + e.timeout))
end
