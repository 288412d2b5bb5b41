-- A device's logs (the console's log view and live tail, its log
-- sources) are read by owner and device, newest id first: without this
-- index every such read scanned all the logs of the owner's fleet.
CREATE INDEX logs_own_dev_id ON logs (own, dev, id);
