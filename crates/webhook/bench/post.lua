-- wrk: POST a 1 KiB JSON body, as the dispatcher does.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"eventId":"evt-00000000","eventType":"bench","pad":"' .. string.rep("x", 1024 - 60) .. '"}'
