import { NodeOAuth } from "@effect-oauth/platform-node"
import { httpClientLayerContract } from "../../core/test/HttpClientLayerContract.js"

httpClientLayerContract("NodeOAuth.layerHttpClient", NodeOAuth.layerHttpClient)
