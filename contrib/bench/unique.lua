-- unique.lua - wrk script: every request asks for a URL never asked before.
--
--   wrk ... -s unique.lua http://127.0.0.1:PORT/1k -- NONCE
--
-- sends GET /1k?u=NONCE-T-N, T the wrk thread (1, 2, ...), N counting from
-- 1 in each thread.  Used by `run --cache` for the miss and pass
-- scenarios: on a cached route every request is a cache miss (a new key),
-- and the pass route gets the very same requests.  NONCE (the round and
-- the time) keeps the URLs of one run apart from every earlier run's.

local nthreads = 0

function setup(thread)
    nthreads = nthreads + 1
    thread:set("tid", nthreads)
end

function init(args)
    n = 0
    prefix = wrk.path .. "?u=" .. (args[1] or "0") .. "-" .. tid .. "-"
end

function request()
    n = n + 1
    return wrk.format(nil, prefix .. n)
end
